/**
 * A streaming quantile sketch for latency triggers: a fixed-bucket log histogram (the bucket
 * layout of DDSketch) whose estimate of any quantile is within `relativeError` of the exact
 * nearest-rank quantile. Bucket i holds (γ^(i-1), γ^i] with γ = (1 + α) / (1 − α); a bucket is
 * reported as 2γ^i / (γ + 1), which is within α of every value in it. Recording is one log and
 * two increments — no sorted array, no allocation per value. `WindowedSketch` keeps a sliding
 * window of such histograms (sub-windows) and their running sum.
 */

/** Values at or below this (ms) count in the zero bucket and are reported as 0. */
export const MIN_VALUE = 0.001;
/** Values above this (ms, about 2.8 hours) are counted as this. */
export const MAX_VALUE = 1e7;

export class LogLayout {
  readonly gamma: number;
  readonly #logGamma: number;
  /** Index of the first bucket above MIN_VALUE. */
  readonly #offset: number;
  /** Number of buckets, the zero bucket (index 0) included. */
  readonly size: number;

  constructor(readonly relativeError = 0.01) {
    if (!(relativeError > 0 && relativeError < 1)) throw new Error('relativeError must be in (0, 1)');
    this.gamma = (1 + relativeError) / (1 - relativeError);
    this.#logGamma = Math.log(this.gamma);
    this.#offset = Math.ceil(Math.log(MIN_VALUE) / this.#logGamma);
    this.size = Math.ceil(Math.log(MAX_VALUE) / this.#logGamma) - this.#offset + 2;
  }

  /** The bucket of a value. */
  index(value: number): number {
    if (!(value > MIN_VALUE)) return 0;
    const v = value > MAX_VALUE ? MAX_VALUE : value;
    return Math.ceil(Math.log(v) / this.#logGamma) - this.#offset + 1;
  }

  /** The value a bucket is reported as. */
  value(index: number): number {
    if (index <= 0) return 0;
    const upper = Math.pow(this.gamma, index + this.#offset - 1);
    return Math.min(MAX_VALUE, (2 * upper) / (this.gamma + 1));
  }
}

/** The nearest-rank quantile q of the counts: the smallest bucket whose cumulative count reaches ⌈q·n⌉. */
function quantileOf(layout: LogLayout, counts: Uint32Array, total: number, q: number): number | undefined {
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] as number;
    if (seen >= rank) return layout.value(i);
  }
  return layout.value(counts.length - 1);
}

/** The ring position of sub-window `h`. */
export function slotOf(h: number, n: number): number {
  return ((h % n) + n) % n;
}

/** One histogram (no window). */
export class LogHistogram {
  readonly counts: Uint32Array;
  count = 0;

  constructor(readonly layout: LogLayout = new LogLayout()) {
    this.counts = new Uint32Array(layout.size);
  }

  record(value: number): void {
    const i = this.layout.index(value);
    this.counts[i] = (this.counts[i] as number) + 1;
    this.count++;
  }

  quantile(q: number): number | undefined {
    return quantileOf(this.layout, this.counts, this.count, q);
  }
}

/**
 * A sliding window of `slots` sub-windows of `windowMs / slots` each: values recorded at time t
 * count until the sub-window that holds t is `slots` sub-windows old. The running sum of the live
 * sub-windows answers quantiles; an expired sub-window is subtracted and reused (no allocation
 * after construction).
 */
export class WindowedSketch {
  readonly #layout: LogLayout;
  readonly #slots: Uint32Array[];
  readonly #slotCounts: Float64Array;
  readonly #sum: Uint32Array;
  readonly #subMs: number;
  #total = 0;
  /** Index (time / subMs) of the newest sub-window. */
  #head = -Infinity;

  constructor(
    readonly windowMs: number,
    slots = 10,
    layout: LogLayout = new LogLayout(),
  ) {
    if (!(windowMs > 0) || !(slots >= 1)) throw new Error('windowMs and slots must be positive');
    this.#layout = layout;
    this.#subMs = windowMs / slots;
    this.#slots = Array.from({ length: slots }, () => new Uint32Array(layout.size));
    this.#slotCounts = new Float64Array(slots);
    this.#sum = new Uint32Array(layout.size);
  }

  /** Values in the window at `now`. */
  count(now: number): number {
    this.#advance(now);
    return this.#total;
  }

  record(now: number, value: number): void {
    this.#advance(now);
    const k = slotOf(this.#head, this.#slots.length);
    const slot = this.#slots[k] as Uint32Array;
    const i = this.#layout.index(value);
    slot[i] = (slot[i] as number) + 1;
    this.#sum[i] = (this.#sum[i] as number) + 1;
    this.#slotCounts[k] = (this.#slotCounts[k] as number) + 1;
    this.#total++;
  }

  /** The nearest-rank quantile q of the values in the window at `now`; undefined when there are none. */
  quantile(now: number, q: number): number | undefined {
    this.#advance(now);
    return quantileOf(this.#layout, this.#sum, this.#total, q);
  }

  #advance(now: number): void {
    const head = Math.floor(now / this.#subMs);
    if (head <= this.#head) return;
    const n = this.#slots.length;
    // Clear the sub-windows that fall out: at most all of them.
    const from = this.#head === -Infinity ? head - n + 1 : Math.max(this.#head + 1, head - n + 1);
    for (let h = from; h <= head; h++) this.#clear(slotOf(h, n));
    this.#head = head;
  }

  #clear(k: number): void {
    if (this.#slotCounts[k] === 0) return;
    const slot = this.#slots[k] as Uint32Array;
    for (let i = 0; i < slot.length; i++) {
      const c = slot[i] as number;
      if (c !== 0) {
        this.#sum[i] = (this.#sum[i] as number) - c;
        slot[i] = 0;
      }
    }
    this.#total -= this.#slotCounts[k] as number;
    this.#slotCounts[k] = 0;
  }
}
