/**
 * The sliding windows a breaker computes its failure and slow-call rates over: ring buffers
 * allocated once, in the constructor, and O(1) per recorded call.
 *
 * - CountWindow: the last `size` calls.
 * - TimeWindow: the calls of the last `durationMs`, in BUCKETS buckets of durationMs/BUCKETS (a
 *   call leaves the window between (BUCKETS-1)/BUCKETS and 1 × durationMs after it was recorded).
 */

export interface OutcomeWindow {
  /** Records one call at `now` (ms). */
  add(now: number, failed: boolean, slow: boolean): void;
  /** Calls, failures and slow calls in the window at `now`. */
  calls(now: number): number;
  failures(now: number): number;
  slow(now: number): number;
  /** Forgets every call. */
  reset(): void;
}

const FAILED = 1;
const SLOW = 2;

export class CountWindow implements OutcomeWindow {
  readonly #ring: Uint8Array;
  #next = 0;
  #count = 0;
  #failures = 0;
  #slow = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`window size must be a positive integer, got ${size}`);
    this.#ring = new Uint8Array(size);
  }

  add(_now: number, failed: boolean, slow: boolean): void {
    const i = this.#next;
    if (this.#count === this.size) {
      const old = this.#ring[i] ?? 0;
      if (old & FAILED) this.#failures--;
      if (old & SLOW) this.#slow--;
    } else this.#count++;
    this.#ring[i] = (failed ? FAILED : 0) | (slow ? SLOW : 0);
    if (failed) this.#failures++;
    if (slow) this.#slow++;
    this.#next = i + 1 === this.size ? 0 : i + 1;
  }

  calls(): number {
    return this.#count;
  }
  failures(): number {
    return this.#failures;
  }
  slow(): number {
    return this.#slow;
  }

  reset(): void {
    this.#ring.fill(0);
    this.#next = 0;
    this.#count = this.#failures = this.#slow = 0;
  }
}

/** Buckets of a time window: the window's resolution is durationMs / BUCKETS. */
export const BUCKETS = 20;

export class TimeWindow implements OutcomeWindow {
  readonly #width: number;
  readonly #calls = new Uint32Array(BUCKETS);
  readonly #failures = new Uint32Array(BUCKETS);
  readonly #slow = new Uint32Array(BUCKETS);
  /** Index of the newest bucket's time slot (floor(now / width)); -1 before the first call. */
  #epoch = -1;
  #totalCalls = 0;
  #totalFailures = 0;
  #totalSlow = 0;

  constructor(readonly durationMs: number) {
    if (!(durationMs > 0) || !Number.isFinite(durationMs)) throw new Error(`window duration must be positive, got ${durationMs}`);
    this.#width = durationMs / BUCKETS;
  }

  /** Empties the buckets whose time slot has passed (at most BUCKETS of them). */
  #advance(now: number): number {
    const epoch = Math.floor(now / this.#width);
    if (this.#epoch < 0) this.#epoch = epoch;
    if (epoch <= this.#epoch) return this.#epoch % BUCKETS;
    const steps = Math.min(epoch - this.#epoch, BUCKETS);
    for (let s = 1; s <= steps; s++) {
      const i = (this.#epoch + s) % BUCKETS;
      this.#totalCalls -= this.#calls[i] ?? 0;
      this.#totalFailures -= this.#failures[i] ?? 0;
      this.#totalSlow -= this.#slow[i] ?? 0;
      this.#calls[i] = this.#failures[i] = this.#slow[i] = 0;
    }
    this.#epoch = epoch;
    return epoch % BUCKETS;
  }

  add(now: number, failed: boolean, slow: boolean): void {
    const i = this.#advance(now);
    this.#calls[i] = (this.#calls[i] ?? 0) + 1;
    this.#totalCalls++;
    if (failed) {
      this.#failures[i] = (this.#failures[i] ?? 0) + 1;
      this.#totalFailures++;
    }
    if (slow) {
      this.#slow[i] = (this.#slow[i] ?? 0) + 1;
      this.#totalSlow++;
    }
  }

  calls(now: number): number {
    this.#advance(now);
    return this.#totalCalls;
  }
  failures(now: number): number {
    this.#advance(now);
    return this.#totalFailures;
  }
  slow(now: number): number {
    this.#advance(now);
    return this.#totalSlow;
  }

  reset(): void {
    this.#calls.fill(0);
    this.#failures.fill(0);
    this.#slow.fill(0);
    this.#totalCalls = this.#totalFailures = this.#totalSlow = 0;
    this.#epoch = -1;
  }
}
