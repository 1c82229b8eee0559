/**
 * Key → slot index of the memory store: an open-addressing hash table (linear probing, at most
 * half full, backward-shift deletion) in one Int32Array. It holds only slot numbers; the keys
 * themselves stay in the store's slot array, so an entry costs 8 bytes where a Map entry costs
 * about 28 — with a million counters, the difference between meeting the memory budget and not.
 *
 * The hash is FNV-1a over the UTF-16 code units with a random per-process basis, so the probe
 * sequence of a given key cannot be known in advance (values longer than 64 characters never get
 * here unhashed: keys.ts replaces them by a digest).
 */
import { randomInt } from 'node:crypto';
import { fnv1a } from '../../fnv.js';

const EMPTY = 0;

export class SlotIndex {
  /** slot + 1 per table entry; 0 marks an empty entry. */
  #table: Int32Array;
  #mask: number;
  #size = 0;
  readonly #seed = randomInt(0, 0x7fffffff);

  /** `keyOf(slot)`: the key a slot holds (the store's own array). */
  constructor(
    private readonly keyOf: (slot: number) => string | undefined,
    capacity: number,
  ) {
    const entries = tableSize(capacity);
    this.#table = new Int32Array(entries);
    this.#mask = entries - 1;
  }

  get size(): number {
    return this.#size;
  }

  #hash(key: string): number {
    return fnv1a(key, this.#seed) >>> 0;
  }

  get(key: string): number | undefined {
    const table = this.#table;
    for (let i = this.#hash(key) & this.#mask; ; i = (i + 1) & this.#mask) {
      const e = table[i] ?? EMPTY;
      if (e === EMPTY) return undefined;
      if (this.keyOf(e - 1) === key) return e - 1;
    }
  }

  /** Adds a key that is not in the index (the store checks with get first). */
  add(key: string, slot: number): void {
    if ((this.#size + 1) * 2 > this.#table.length) this.#rehash(this.#table.length * 2);
    this.#place(this.#hash(key), slot);
    this.#size++;
  }

  #place(hash: number, slot: number): void {
    let i = hash & this.#mask;
    while ((this.#table[i] ?? EMPTY) !== EMPTY) i = (i + 1) & this.#mask;
    this.#table[i] = slot + 1;
  }

  delete(key: string): boolean {
    const table = this.#table;
    const mask = this.#mask;
    let i = this.#hash(key) & mask;
    for (; ; i = (i + 1) & mask) {
      const e = table[i] ?? EMPTY;
      if (e === EMPTY) return false;
      if (this.keyOf(e - 1) === key) break;
    }
    // Backward shift: move later entries of the probe run into the hole when their home allows.
    let hole = i;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const e = table[j] ?? EMPTY;
      if (e === EMPTY) break;
      const home = this.#hash(this.keyOf(e - 1) ?? '') & mask;
      // The entry at j may fill the hole if its home is not in the cyclic range (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        table[hole] = e;
        hole = j;
      }
    }
    table[hole] = EMPTY;
    this.#size--;
    return true;
  }

  #rehash(entries: number): void {
    const old = this.#table;
    this.#table = new Int32Array(entries);
    this.#mask = entries - 1;
    for (const e of old) {
      if (e === EMPTY) continue;
      this.#place(this.#hash(this.keyOf(e - 1) ?? ''), e - 1);
    }
  }
}

/** The smallest power of two that keeps `capacity` keys at most half full. */
function tableSize(capacity: number): number {
  let n = 16;
  while (n < capacity * 2) n *= 2;
  return n;
}
