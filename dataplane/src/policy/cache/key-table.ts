/**
 * L1's index from key to entry: an open-addressing hash table (linear probing, at most half full,
 * backward-shift deletion) over two arrays — each key's 32-bit hash in an Int32Array, its entry
 * beside it. A probe compares hashes first, so a key that is not there (every miss) reads only the
 * hash array, and a hit reads one entry; removing an entry finds it by identity. With a Map of
 * 10,000 entries churning at a miss per request, each lookup walked a bucket chain through key
 * strings scattered over the heap (profiled: about 1 µs of stalls per request in the Map's
 * builtins).
 *
 * The hash is FNV-1a from a random per-process basis (fnv.ts), as the memory limiter's index uses,
 * so the probe sequence of a key cannot be known in advance. The table grows by doubling and never holds
 * more entries than its owner lets in (L1 bounds them).
 */
import { randomInt } from 'node:crypto';
import { fnv1a } from '../../fnv.js';

/** An entry the table can hold: its key and the key's hash (keyHash), kept with it. */
export interface KeyedEntry {
  readonly key: string;
  readonly keyHash: number;
}

const EMPTY = 0;
const MIN_SLOTS = 16;
const SEED = randomInt(0, 0x7fffffff);

/** The hash of a key as the table uses it: never 0 (0 marks an empty slot). */
export function keyHash(key: string): number {
  return fnv1a(key, SEED) | 1;
}

export class KeyTable<E extends KeyedEntry> {
  #hashes = new Int32Array(MIN_SLOTS);
  #entries: (E | undefined)[] = new Array<E | undefined>(MIN_SLOTS).fill(undefined);
  #mask = MIN_SLOTS - 1;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The entry under `key` (`hash`: its keyHash, when the caller has it). */
  get(key: string, hash = keyHash(key)): E | undefined {
    const hashes = this.#hashes;
    const mask = this.#mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const h = hashes[i] ?? EMPTY;
      if (h === EMPTY) return undefined;
      if (h === hash) {
        const e = this.#entries[i];
        if (e !== undefined && e.key === key) return e;
      }
    }
  }

  /** Adds an entry whose key is not in the table (the caller checks with get first). */
  add(entry: E): void {
    if ((this.#size + 1) * 2 > this.#hashes.length) this.#resize(this.#hashes.length * 2);
    this.#place(entry);
    this.#size++;
  }

  /** Removes this very entry; false when it is not in the table. */
  delete(entry: E): boolean {
    const hashes = this.#hashes;
    const entries = this.#entries;
    const mask = this.#mask;
    let hole = entry.keyHash & mask;
    for (; ; hole = (hole + 1) & mask) {
      if ((hashes[hole] ?? EMPTY) === EMPTY) return false;
      if (entries[hole] === entry) break;
    }
    // Backward shift: later entries of the probe run move into the hole when their home allows.
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const h = hashes[j] ?? EMPTY;
      if (h === EMPTY) break;
      const home = h & mask;
      // The entry at j may fill the hole unless its home is in the cyclic range (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        hashes[hole] = h;
        entries[hole] = entries[j];
        hole = j;
      }
    }
    hashes[hole] = EMPTY;
    entries[hole] = undefined;
    this.#size--;
    return true;
  }

  clear(): void {
    this.#hashes = new Int32Array(MIN_SLOTS);
    this.#entries = new Array<E | undefined>(MIN_SLOTS).fill(undefined);
    this.#mask = MIN_SLOTS - 1;
    this.#size = 0;
  }

  #place(entry: E): void {
    const hashes = this.#hashes;
    const mask = this.#mask;
    let i = entry.keyHash & mask;
    while ((hashes[i] ?? EMPTY) !== EMPTY) i = (i + 1) & mask;
    hashes[i] = entry.keyHash;
    this.#entries[i] = entry;
  }

  #resize(slots: number): void {
    const old = this.#entries;
    this.#hashes = new Int32Array(slots);
    this.#entries = new Array<E | undefined>(slots).fill(undefined);
    this.#mask = slots - 1;
    for (const e of old) if (e !== undefined) this.#place(e);
  }
}
