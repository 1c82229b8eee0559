/**
 * L1: the in-process level of one CachePolicy, a least-recently-used map bounded by entries and by
 * bytes. Pure: time comes from the injected clock, nothing is swept in the background — an entry
 * past its `keepUntil` is dropped when it is next read or evicted, and the bounds hold at every
 * insert.
 *
 * Entries are found by key through an open-addressing table of key hashes (key-table.ts), and
 * recency is a linked list through the entries (recency.ts): about 1 µs per insert at 10,000
 * entries with a miss on every request, against about 10 µs through a Map's iterator.
 * Entries taken out are reused for the next answers (at most MAX_SPARE set aside, each keeping a
 * buffer of at most 64 KiB; l1-entry.ts says why).
 *
 * Hot keys are pinned: an entry pinned until a time is passed over by eviction (moved to the
 * recent end instead) until then. Pins are bounded too — at most MAX_PINS entries and half of the
 * entry and byte bounds — so an insert can always make room by evicting unpinned entries.
 */
import type { Clock } from '../../clock.js';
import { RecencyList } from '../../recency.js';
import { L1Entry, type L1Item, type UpstreamAnswer } from './l1-entry.js';
import { KeyTable, keyHash } from './key-table.js';

/** Most entries pinned at once (hot keys are few: a top-K). */
export const MAX_PINS = 1024;
/** Most entries set aside for reuse (an insert that evicts one takes it for its own answer). */
const MAX_SPARE = 8;

export { L1Entry, type L1Item, type UpstreamAnswer } from './l1-entry.js';

export interface L1Limits {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

export class L1Cache {
  readonly #slots = new KeyTable<L1Entry>();
  /**
   * Pinned entries and until when (wall-clock ms). Kept here, not in the entries: a time is a
   * number V8 keeps as an object of its own, and once one entry held one every entry would.
   */
  readonly #pinned = new Map<L1Entry, number>();
  readonly #order = new RecencyList<L1Entry>();
  /** Entries taken out, to be filled again (l1-entry.ts: their objects and buffers are reused). */
  readonly #spare: L1Entry[] = [];
  #bytes = 0;
  #pinnedBytes = 0;
  /** Entries removed to respect the bounds (not expiries or deletes). */
  evictions = 0;

  constructor(
    readonly limits: L1Limits,
    private readonly clock: Clock,
  ) {
    if (!(limits.maxEntries >= 1) || !(limits.maxBytes >= 1)) throw new RangeError('L1 bounds must be positive');
  }

  get size(): number {
    return this.#slots.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get pinnedCount(): number {
    return this.#pinned.size;
  }

  /** The entry under `key` (fresh or stale, not past keepUntil), now the most recently used. */
  get(key: string, hash = keyHash(key)): L1Entry | undefined {
    const slot = this.#slots.get(key, hash);
    if (slot === undefined) return undefined;
    if (this.clock.now() >= slot.keepUntil) {
      this.#drop(slot);
      return undefined;
    }
    this.#order.touch(slot);
    return slot;
  }

  /**
   * Stores an item (replacing what was under its key; unpinned), evicting least-recently-used
   * unpinned entries past the bounds. False when it cannot fit beside the pinned entries (then
   * nothing changed but the removal of the old entry under its key).
   */
  set(item: L1Item): boolean {
    const slot = L1Entry.of(item);
    this.#dropKey(slot.key, slot.keyHash);
    return this.#insert(slot, this.clock.now());
  }

  /**
   * Stores an upstream's answer as `set` does, in an entry taken out before when there is one:
   * with a miss on every request, each insert evicts one entry, and the next one reuses it.
   */
  setAnswer(a: UpstreamAnswer): boolean {
    const hash = a.keyHash ?? keyHash(a.key);
    this.#dropKey(a.key, hash);
    const now = this.clock.now();
    if (now >= a.keepUntil) return false;
    const slot = this.#spare.pop() ?? new L1Entry();
    slot.fill(a, hash);
    // A reused buffer larger than the answer is counted as it is: not to be refused for that.
    if (slot.size > this.limits.maxBytes - this.#pinnedBytes) slot.fill(a, hash, true);
    return this.#insert(slot, now);
  }

  /** Adds an entry whose key is not in L1, then keeps the bounds (see set). */
  #insert(slot: L1Entry, now: number): boolean {
    const { maxEntries, maxBytes } = this.limits;
    if (slot.size > maxBytes - this.#pinnedBytes || now >= slot.keepUntil) {
      this.#spareOne(slot);
      return false;
    }
    this.#slots.add(slot);
    this.#order.append(slot);
    this.#bytes += slot.size;
    if (this.#slots.size > maxEntries || this.#bytes > maxBytes) return this.#evict(slot, now);
    return true;
  }

  /** Removes the entry under a key, if any. */
  #dropKey(key: string, hash: number): void {
    const old = this.#slots.get(key, hash);
    if (old !== undefined) this.#drop(old);
  }

  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#drop(slot);
    return true;
  }

  clear(): void {
    this.#slots.clear();
    this.#pinned.clear();
    this.#order.clear();
    this.#bytes = 0;
    this.#pinnedBytes = 0;
  }

  /** Pins the entry under `key` until `until` (extends a pin). False when absent or the pin bounds are full. */
  pin(key: string, until: number): boolean {
    const item = this.#slots.get(key);
    if (item === undefined) return false;
    const pinned = this.#pinned.get(item);
    if (pinned === undefined) {
      if (!this.#roomForPin(item.size)) {
        this.#unpinExpired();
        if (!this.#roomForPin(item.size)) return false;
      }
      this.#pinnedBytes += item.size;
    }
    this.#pinned.set(item, Math.max(pinned ?? 0, until));
    return true;
  }

  isPinned(key: string): boolean {
    const item = this.#slots.get(key);
    return item !== undefined && this.#pinnedUntil(item) > this.clock.now();
  }

  #roomForPin(size: number): boolean {
    const { maxEntries, maxBytes } = this.limits;
    return this.#pinned.size < Math.min(MAX_PINS, Math.floor(maxEntries / 2)) && this.#pinnedBytes + size <= maxBytes / 2;
  }

  #unpinExpired(): void {
    const now = this.clock.now();
    for (const [item, until] of this.#pinned) if (until <= now) this.#unpin(item);
  }

  /** Until when an entry is pinned (wall-clock ms); 0: not pinned. */
  #pinnedUntil(item: L1Entry): number {
    return this.#pinned.size === 0 ? 0 : (this.#pinned.get(item) ?? 0);
  }

  #unpin(item: L1Entry): void {
    if (this.#pinned.size === 0 || !this.#pinned.delete(item)) return;
    this.#pinnedBytes -= item.size;
  }

  #remove(slot: L1Entry): void {
    this.#slots.delete(slot);
    this.#order.unlink(slot);
    this.#bytes -= slot.size;
    this.#unpin(slot);
  }

  /** Removes an entry for good: it is set aside for reuse (nothing outside L1 keeps an entry). */
  #drop(slot: L1Entry): void {
    this.#remove(slot);
    this.#spareOne(slot);
  }

  #spareOne(slot: L1Entry): void {
    slot.release();
    if (this.#spare.length < MAX_SPARE) this.#spare.push(slot);
  }

  /**
   * Evicts from the least recently used end until within bounds, passing over pinned entries.
   * False when that evicted `added` (the entry just stored).
   */
  #evict(added: L1Entry, now: number): boolean {
    const { maxEntries, maxBytes } = this.limits;
    let kept = true;
    // Each pinned entry is passed over at most once per call, so the loop ends.
    let passes = this.#slots.size;
    while ((this.#slots.size > maxEntries || this.#bytes > maxBytes) && passes-- > 0) {
      const slot = this.#order.oldest;
      if (slot === undefined) break;
      if (this.#pinnedUntil(slot) > now) {
        this.#order.touch(slot);
        continue;
      }
      if (slot === added) kept = false;
      this.#drop(slot);
      this.evictions++;
    }
    return kept;
  }
}
