/**
 * L1: the in-process level of one CachePolicy, a least-recently-used map bounded by entries and by
 * bytes. Pure: time comes from the injected clock, nothing is swept in the background — an entry
 * past its `keepUntil` is dropped when it is next read or evicted, and the bounds hold at every
 * insert.
 *
 * Entries are found by key through an open-addressing table of key hashes (key-table.ts), and
 * recency is a linked list through the entries (recency.ts): about 1 µs per insert at 10,000
 * entries with a miss on every request, against about 10 µs through a Map's iterator.
 *
 * Hot keys are pinned: an entry pinned until a time is passed over by eviction (moved to the
 * recent end instead) until then. Pins are bounded too — at most MAX_PINS entries and half of the
 * entry and byte bounds — so an insert can always make room by evicting unpinned entries.
 */
import type { Clock } from '../../clock.js';
import { RecencyList, type Linked } from '../../recency.js';
import type { CachedResponse } from './entry.js';
import { KeyTable, keyHash, type KeyedEntry } from './key-table.js';

/** Most entries pinned at once (hot keys are few: a top-K). */
export const MAX_PINS = 1024;

/** An entry as callers hand it to L1 and read it back (what L1 holds, without its place in the recency list). */
export type L1Item = Omit<L1Entry, 'older' | 'newer' | 'keyHash'>;

export interface L1Limits {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/** An entry as L1 holds it: the item's fields and its place in the recency list, one object. */
export class L1Entry implements Linked<L1Entry>, KeyedEntry {
  readonly key: string;
  readonly keyHash: number;
  readonly response: CachedResponse;
  /** Bytes counted for this entry (see entrySize). */
  readonly size: number;
  /** The invalidation sequence number of the lookup it answers (versions.ts). */
  readonly seq: number;
  /** Pinned (hot) until this wall-clock ms; 0: not pinned. */
  pinnedUntil = 0;
  older: L1Entry | undefined = undefined;
  newer: L1Entry | undefined = undefined;
  /**
   * freshUntil and keepUntil as ms after the response's storedAt: small integers, which V8 keeps
   * inside the object, where a wall-clock time is a heap number of its own — two objects less per
   * entry for the collector to copy when the entry outlives the young generation.
   */
  readonly #freshFor: number;
  readonly #keepFor: number;
  constructor(item: L1Item, hash: number) {
    this.key = item.key;
    this.keyHash = hash;
    this.response = item.response;
    this.size = item.size;
    this.seq = item.seq;
    const base = item.response.storedAt;
    this.#freshFor = item.freshUntil - base;
    this.#keepFor = item.keepUntil - base;
  }

  /** Wall-clock ms: fresh before, stale after. */
  get freshUntil(): number {
    return this.response.storedAt + this.#freshFor;
  }

  /** Wall-clock ms: dropped from then on (fresh plus the longest stale window). */
  get keepUntil(): number {
    return this.response.storedAt + this.#keepFor;
  }
}

export class L1Cache {
  readonly #slots = new KeyTable<L1Entry>();
  readonly #pinned = new Set<L1Entry>();
  readonly #order = new RecencyList<L1Entry>();
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
  get(key: string): L1Item | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (this.clock.now() >= slot.keepUntil) {
      this.#remove(slot);
      return undefined;
    }
    this.#order.touch(slot);
    return slot;
  }

  /**
   * Stores a copy of `item` (replacing what was under its key; unpinned), evicting
   * least-recently-used unpinned entries past the bounds. False when it cannot fit beside the
   * pinned entries (then nothing changed but the removal of the old entry under its key).
   */
  set(item: L1Item): boolean {
    const hash = keyHash(item.key);
    const old = this.#slots.get(item.key, hash);
    if (old !== undefined) this.#remove(old);
    const { maxEntries, maxBytes } = this.limits;
    const now = this.clock.now();
    if (item.size > maxBytes - this.#pinnedBytes || now >= item.keepUntil) return false;
    const slot = new L1Entry(item, hash);
    this.#slots.add(slot);
    this.#order.append(slot);
    this.#bytes += item.size;
    if (this.#slots.size > maxEntries || this.#bytes > maxBytes) return this.#evict(slot, now);
    return true;
  }

  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#remove(slot);
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
    if (!this.#pinned.has(item)) {
      if (!this.#roomForPin(item.size)) {
        this.#unpinExpired();
        if (!this.#roomForPin(item.size)) return false;
      }
      this.#pinned.add(item);
      this.#pinnedBytes += item.size;
    }
    item.pinnedUntil = Math.max(item.pinnedUntil, until);
    return true;
  }

  isPinned(key: string): boolean {
    const item = this.#slots.get(key);
    return item !== undefined && item.pinnedUntil > this.clock.now();
  }

  #roomForPin(size: number): boolean {
    const { maxEntries, maxBytes } = this.limits;
    return this.#pinned.size < Math.min(MAX_PINS, Math.floor(maxEntries / 2)) && this.#pinnedBytes + size <= maxBytes / 2;
  }

  #unpinExpired(): void {
    const now = this.clock.now();
    for (const item of this.#pinned) if (item.pinnedUntil <= now) this.#unpin(item);
  }

  #unpin(item: L1Entry): void {
    if (!this.#pinned.delete(item)) return;
    this.#pinnedBytes -= item.size;
    item.pinnedUntil = 0;
  }

  #remove(slot: L1Entry): void {
    this.#slots.delete(slot);
    this.#order.unlink(slot);
    this.#bytes -= slot.size;
    this.#unpin(slot);
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
      if (slot.pinnedUntil > now) {
        this.#order.touch(slot);
        continue;
      }
      if (slot === added) kept = false;
      this.#remove(slot);
      this.evictions++;
    }
    return kept;
  }
}
