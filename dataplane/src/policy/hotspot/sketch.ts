/**
 * Space-saving heavy-hitter summary (Metwally, Agrawal, El Abbadi, "Efficient computation of
 * frequent and top-k elements in data streams", ICDT 2005) over weighted observations.
 *
 * At most `capacity` counters exist, whatever the number of distinct keys. A key that is not
 * monitored takes over the counter with the smallest count, inheriting that count as its error.
 * Guarantees (for non-negative weights): every key whose true weight exceeds total / capacity is
 * monitored, and for a monitored key `count - error ≤ true weight ≤ count`.
 *
 * The counters form a binary min-heap on `count` with a key → slot index, so an update costs
 * O(log capacity) (at most 10 levels for capacity ≤ 1024) and never scans the summary. Weights may
 * be any positive number, which is what exponential forward decay needs (the caller passes a
 * weight that grows with time and rescales now and then); a uniform `rescale` keeps heap order.
 */
export interface SketchEntry {
  readonly key: string;
  /** Over-estimate of the key's weight. */
  readonly count: number;
  /** Largest possible over-estimation: `count - error` is a lower bound. */
  readonly error: number;
}

export class SpaceSaving {
  readonly capacity: number;
  readonly #keys: string[];
  readonly #counts: Float64Array;
  readonly #errors: Float64Array;
  readonly #slot = new Map<string, number>();
  #size = 0;
  #total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#keys = new Array<string>(capacity).fill('');
    this.#counts = new Float64Array(capacity);
    this.#errors = new Float64Array(capacity);
  }

  /** Monitored keys (never more than `capacity`). */
  get size(): number {
    return this.#size;
  }

  /** Sum of all weights added (after rescaling). */
  get total(): number {
    return this.#total;
  }

  /** Adds `weight` (> 0) to `key`; returns the key's guaranteed weight (`count - error`). */
  add(key: string, weight: number): number {
    this.#total += weight;
    let i = this.#slot.get(key);
    if (i === undefined) {
      if (this.#size < this.capacity) {
        i = this.#size++;
        this.#keys[i] = key;
        this.#counts[i] = weight;
        this.#errors[i] = 0;
        this.#slot.set(key, i);
        this.#siftUp(i);
        return weight;
      }
      // Replace the minimum (the heap root).
      const min = this.#counts[0] ?? 0;
      this.#slot.delete(this.#keys[0] ?? '');
      this.#keys[0] = key;
      this.#counts[0] = min + weight;
      this.#errors[0] = min;
      this.#slot.set(key, 0);
      this.#siftDown(0);
      return weight;
    }
    const count = (this.#counts[i] ?? 0) + weight;
    this.#counts[i] = count;
    const guaranteed = count - (this.#errors[i] ?? 0);
    this.#siftDown(i);
    return guaranteed;
  }

  /** The key's counter, or undefined when it is not monitored. */
  get(key: string): SketchEntry | undefined {
    const i = this.#slot.get(key);
    if (i === undefined) return undefined;
    return { key, count: this.#counts[i] ?? 0, error: this.#errors[i] ?? 0 };
  }

  /** Guaranteed weight of the key: `count - error`, 0 when not monitored. */
  lowerBound(key: string): number {
    const i = this.#slot.get(key);
    return i === undefined ? 0 : (this.#counts[i] ?? 0) - (this.#errors[i] ?? 0);
  }

  /** Upper bound of the key's weight: its count, or the smallest count when not monitored. */
  upperBound(key: string): number {
    const i = this.#slot.get(key);
    if (i !== undefined) return this.#counts[i] ?? 0;
    return this.#size < this.capacity ? 0 : (this.#counts[0] ?? 0);
  }

  /** Multiplies every count, error and the total by `factor` (> 0); heap order is unchanged. */
  rescale(factor: number): void {
    for (let i = 0; i < this.#size; i++) {
      this.#counts[i] = (this.#counts[i] ?? 0) * factor;
      this.#errors[i] = (this.#errors[i] ?? 0) * factor;
    }
    this.#total *= factor;
  }

  /** The `n` keys with the largest guaranteed weight, largest first (O(capacity log capacity)). */
  top(n: number): SketchEntry[] {
    const all: SketchEntry[] = [];
    for (let i = 0; i < this.#size; i++) all.push({ key: this.#keys[i] ?? '', count: this.#counts[i] ?? 0, error: this.#errors[i] ?? 0 });
    all.sort((a, b) => b.count - b.error - (a.count - a.error) || b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return all.slice(0, Math.max(0, n));
  }

  clear(): void {
    this.#slot.clear();
    this.#size = 0;
    this.#total = 0;
  }

  /** Moves the counter at `i` up to its place (a hole moves, one index write per level). */
  #siftUp(i: number): void {
    const start = i;
    const key = this.#keys[i] ?? '';
    const count = this.#counts[i] ?? 0;
    const error = this.#errors[i] ?? 0;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.#counts[parent] ?? 0) <= count) break;
      this.#move(parent, i);
      i = parent;
    }
    if (i !== start) this.#place(i, key, count, error);
  }

  /** Moves the counter at `i` down to its place. */
  #siftDown(i: number): void {
    const start = i;
    const n = this.#size;
    const key = this.#keys[i] ?? '';
    const count = this.#counts[i] ?? 0;
    const error = this.#errors[i] ?? 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (this.#counts[r] ?? 0) < (this.#counts[l] ?? 0) ? r : l;
      if (count <= (this.#counts[c] ?? 0)) break;
      this.#move(c, i);
      i = c;
    }
    if (i !== start) this.#place(i, key, count, error);
  }

  #move(from: number, to: number): void {
    const key = this.#keys[from] ?? '';
    this.#keys[to] = key;
    this.#counts[to] = this.#counts[from] ?? 0;
    this.#errors[to] = this.#errors[from] ?? 0;
    this.#slot.set(key, to);
  }

  #place(i: number, key: string, count: number, error: number): void {
    this.#keys[i] = key;
    this.#counts[i] = count;
    this.#errors[i] = error;
    this.#slot.set(key, i);
  }
}
