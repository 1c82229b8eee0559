/**
 * The in-flight limit found from observed latency: a gradient controller in the manner of Envoy's
 * adaptive concurrency filter. Pure logic on an injected clock, driven by samples (the upstream
 * time of each call that ended) — no timer of its own.
 *
 * - Measuring minRTT: the limit is held at minLimit until minRttSamples calls have ended; minRTT
 *   is their median. This happens first, and again every minRttInterval (jittered by up to 10 %
 *   so that replicas do not measure at the same moment); afterwards the limit the controller had
 *   before is restored.
 * - Otherwise, once the calls of the current limit have been ending for sampleInterval (the window
 *   opens at the first of them to end), with sampleRTT the median of the calls that ended in it:
 *     gradient = clamp(minRTT × (1 + buffer) / sampleRTT, 0.5, 2)
 *     limit    = clamp(gradient × limit + √limit, minLimit, maxLimit)
 *   Latency at minRTT lets the limit grow (by up to 2× plus headroom); queueing at the upstream
 *   shrinks it, and it settles where latency is about minRTT × (1 + buffer).
 *
 * A change is judged only by the calls it sent: every change of the limit starts a new epoch, a
 * call carries the epoch it was admitted in, and samples of calls from earlier epochs are left
 * out. Without that, an upstream slower than sampleInterval keeps reporting the latency of calls
 * sent under an older limit, and the limit runs away or oscillates; and a minRTT measurement
 * would time calls that were queued at the upstream before it began.
 */
import type { Clock } from '../../clock.js';

export interface GradientOptions {
  readonly minLimit: number;
  readonly maxLimit: number;
  /** Tolerated latency increase over minRTT, as a fraction (0.25 = 25 %). */
  readonly buffer: number;
  readonly sampleIntervalMs: number;
  readonly minRttIntervalMs: number;
  readonly minRttSamples: number;
}

/** Why the limit changed. */
export type LimitChange = 'gradient' | 'probe' | 'restore';

/** Most samples kept per interval (the median of a larger window is taken over the first ones). */
const MAX_SAMPLES = 1024;

function median(values: Float64Array, n: number): number {
  const sorted = values.slice(0, n).sort();
  const mid = n >> 1;
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export class GradientController {
  #limit: number;
  #minRtt = 0;
  #sampleRtt = 0;
  #probing = true;
  /** The limit to return to after a minRTT measurement. */
  #saved: number;
  #nextProbeAt = 0;
  #windowStart: number;
  #epoch = 0;
  readonly #samples = new Float64Array(MAX_SAMPLES);
  #count = 0;

  constructor(
    private readonly options: GradientOptions,
    private readonly clock: Clock,
    private readonly random: () => number,
    /** Told after every change of the limit (the gate dispatches or sheds on it). */
    private readonly onChange: (limit: number, previous: number, why: LimitChange) => void = () => {},
  ) {
    this.#limit = options.minLimit;
    this.#saved = options.minLimit;
    this.#windowStart = clock.now();
  }

  /** The current in-flight limit (a whole number ≥ minLimit). */
  get limit(): number {
    return Math.floor(this.#limit);
  }

  /** The last minRTT measured (ms); 0 before the first measurement. */
  get minRtt(): number {
    return this.#minRtt;
  }

  /** The last interval's median latency (ms); 0 before the first. */
  get sampleRtt(): number {
    return this.#sampleRtt;
  }

  /** Whether minRTT is being measured (the limit is held at minLimit). */
  get probing(): boolean {
    return this.#probing;
  }

  /** Admissions per ms the upstream sustains at the current limit (Little's law), 0 when unknown. */
  get ratePerMs(): number {
    const rtt = this.#sampleRtt || this.#minRtt;
    return rtt > 0 ? this.limit / rtt : 0;
  }

  /** Changes with every change of the limit: a call admitted now carries it to `sample`. */
  get epoch(): number {
    return this.#epoch;
  }

  /** A call admitted in `epoch` ended after `rttMs` of upstream time. */
  sample(rttMs: number, epoch: number): void {
    if (epoch !== this.#epoch || !(rttMs >= 0) || !Number.isFinite(rttMs)) return;
    const now = this.clock.now();
    // The window opens with the first call of this limit to end: the first few to end are the
    // fastest, and a window that closed on them alone would see too low a latency.
    if (this.#count === 0) this.#windowStart = now;
    if (this.#count < MAX_SAMPLES) this.#samples[this.#count] = rttMs;
    this.#count++;
    if (this.#probing) {
      if (this.#count < this.options.minRttSamples) return;
      this.#minRtt = median(this.#samples, Math.min(this.#count, MAX_SAMPLES));
      this.#probing = false;
      this.#count = 0;
      this.#windowStart = now;
      this.#nextProbeAt = now + this.options.minRttIntervalMs * (1 + 0.1 * this.random());
      this.#set(Math.max(this.#saved, this.options.minLimit), 'restore');
      return;
    }
    if (now >= this.#nextProbeAt) {
      this.#saved = this.#limit;
      this.#probing = true;
      this.#count = 0;
      this.#set(this.options.minLimit, 'probe');
      return;
    }
    if (now - this.#windowStart < this.options.sampleIntervalMs) return;
    this.#sampleRtt = median(this.#samples, Math.min(this.#count, MAX_SAMPLES));
    this.#count = 0;
    this.#windowStart = now;
    const gradient = Math.min(2, Math.max(0.5, (this.#minRtt * (1 + this.options.buffer)) / Math.max(this.#sampleRtt, 1e-6)));
    const next = gradient * this.#limit + Math.sqrt(this.#limit);
    this.#set(Math.min(this.options.maxLimit, Math.max(this.options.minLimit, next)), 'gradient');
  }

  #set(limit: number, why: LimitChange): void {
    const previous = this.limit;
    this.#limit = limit;
    this.#epoch++;
    this.#count = 0;
    this.#windowStart = this.clock.now();
    if (this.limit !== previous) this.onChange(this.limit, previous, why);
  }
}
