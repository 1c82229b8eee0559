/** Latency samples with microsecond resolution, and their percentiles. */

/** A growable list of latencies in microseconds (a Float64Array doubled when full). */
export class LatencyRecorder {
  #values: Float64Array;
  #count = 0;

  constructor(initialCapacity = 16_384) {
    this.#values = new Float64Array(Math.max(16, initialCapacity));
  }

  get count(): number {
    return this.#count;
  }

  recordNs(ns: number): void {
    if (this.#count === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.#count++] = ns / 1000;
  }

  summary(): LatencySummary {
    return summarize(this.#values.subarray(0, this.#count));
  }
}

export interface LatencySummary {
  count: number;
  /** Milliseconds, three decimals (microsecond resolution). */
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  mean: number | null;
}

/** Rounds to three decimals (µs when the unit is ms). */
export function ms3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Nearest-rank percentile of sorted values: the smallest value with at least q of the samples at or below it. */
export function percentile(sorted: Float64Array, q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/** Summary in ms of latencies given in µs. */
export function summarize(micros: Float64Array): LatencySummary {
  const sorted = Float64Array.from(micros).sort();
  const at = (q: number): number | null => {
    const v = percentile(sorted, q);
    return v === undefined ? null : ms3(v / 1000);
  };
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted.length === 0 ? null : ms3((sorted[sorted.length - 1] ?? 0) / 1000),
    mean: sorted.length === 0 ? null : ms3(sum / sorted.length / 1000),
  };
}
