/**
 * A sliding count of calls and failures (the ErrorRate trigger's signal): `slots` sub-windows of
 * `windowMs / slots`, the oldest dropped as time moves on. Recording is two increments.
 */
import { slotOf } from './sketch.js';

export class WindowedRate {
  readonly #calls: Float64Array;
  readonly #failures: Float64Array;
  readonly #subMs: number;
  #head = -Infinity;
  #callTotal = 0;
  #failureTotal = 0;

  constructor(
    readonly windowMs: number,
    slots = 10,
  ) {
    if (!(windowMs > 0) || !(slots >= 1)) throw new Error('windowMs and slots must be positive');
    this.#subMs = windowMs / slots;
    this.#calls = new Float64Array(slots);
    this.#failures = new Float64Array(slots);
  }

  record(now: number, failed: boolean): void {
    this.#advance(now);
    const k = slotOf(this.#head, this.#calls.length);
    this.#calls[k] = (this.#calls[k] as number) + 1;
    this.#callTotal++;
    if (failed) {
      this.#failures[k] = (this.#failures[k] as number) + 1;
      this.#failureTotal++;
    }
  }

  /** Calls and failures in the window at `now`. */
  totals(now: number): { calls: number; failures: number } {
    this.#advance(now);
    return { calls: this.#callTotal, failures: this.#failureTotal };
  }

  #advance(now: number): void {
    const head = Math.floor(now / this.#subMs);
    if (head <= this.#head) return;
    const n = this.#calls.length;
    const from = this.#head === -Infinity ? head - n + 1 : Math.max(this.#head + 1, head - n + 1);
    for (let h = from; h <= head; h++) {
      const k = slotOf(h, n);
      this.#callTotal -= this.#calls[k] as number;
      this.#failureTotal -= this.#failures[k] as number;
      this.#calls[k] = 0;
      this.#failures[k] = 0;
    }
    this.#head = head;
  }
}
