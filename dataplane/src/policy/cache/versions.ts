/**
 * Invalidation by version, in O(1) whatever the number of entries. Every invalidation moves a
 * sequence number forward and records it as the version of what it invalidates: a tag, a key
 * (the pseudo-tag `keyTag(id)`) or the whole policy (ALL). Every entry remembers the sequence
 * number read when its request looked the cache up, before anything went upstream; it is valid
 * while none of its tags has a version above that number. So an invalidation reaches every entry
 * under a tag at once without finding them, and an answer that was on its way while the
 * invalidation happened is not valid either (its number is older than the bump).
 *
 * A key's pseudo-tag is made from its id (key.ts), which costs a SHA-256: it is asked for only
 * when an entry is older than the last invalidation by key (an entry numbered after it cannot
 * have been invalidated by key), so a lookup hashes nothing unless keys were invalidated since
 * the entry was stored.
 *
 * This is the gateway-local table of one policy (L1); Redis holds the same scheme for L2 (l2.ts).
 * The table is bounded: when it forgets the oldest bump, every entry numbered before it becomes
 * invalid (`floor`), so forgetting can only cause misses, never a stale hit.
 */
import type { Keyed } from './key.js';

/** The pseudo-tag every entry of a policy carries: bumping it invalidates the whole policy. */
export const ALL = '#all';

const KEY_TAG = '#key:';

/** The pseudo-tag of one key, from its id (tags from responses start with a letter or digit, never `#`). */
export function keyTag(id: string): string {
  return KEY_TAG + id;
}

export class VersionTable {
  #seq = 0;
  #floor = 0;
  /** The sequence number of the last bump of a key's tag (0: none). */
  #lastKeyBump = 0;
  /** Tag → the sequence number of its last bump, oldest bump first. */
  readonly #bumps = new Map<string, number>();

  constructor(readonly maxTags: number) {
    if (!(maxTags >= 1)) throw new RangeError('maxTags must be at least 1');
  }

  /** The current sequence number: what an entry looked up now is numbered. */
  get seq(): number {
    return this.#seq;
  }

  get size(): number {
    return this.#bumps.size;
  }

  /** Invalidates every entry carrying `tag` that was numbered before now. */
  bump(tag: string): number {
    const seq = ++this.#seq;
    if (tag.startsWith(KEY_TAG)) this.#lastKeyBump = seq;
    this.#bumps.delete(tag);
    this.#bumps.set(tag, seq);
    if (this.#bumps.size > this.maxTags) {
      const oldest = this.#bumps.entries().next();
      if (!oldest.done) {
        this.#bumps.delete(oldest.value[0]);
        this.#floor = Math.max(this.#floor, oldest.value[1]);
      }
    }
    return seq;
  }

  /**
   * Whether an entry numbered `seq` with these tags (and ALL and its key's tag) is still valid;
   * `entry.id` is read only when keys were invalidated after `seq`.
   */
  valid(seq: number, entry: Pick<Keyed, 'id'>, tags: readonly string[]): boolean {
    if (seq < this.#floor) return false;
    if (this.#bumps.size === 0) return true;
    if ((this.#bumps.get(ALL) ?? 0) > seq) return false;
    if (seq < this.#lastKeyBump && (this.#bumps.get(keyTag(entry.id)) ?? 0) > seq) return false;
    for (const t of tags) if ((this.#bumps.get(t) ?? 0) > seq) return false;
    return true;
  }
}
