/**
 * The retry budget of one backend (CircuitBreakerPolicy `retry.budget`), the model of Envoy's
 * retry_budget and Finagle's RetryBudget: a retry may start while the retries in flight are fewer
 * than `percent` of the requests in flight to the backend, or else when a token bucket that
 * refills at `minRetriesPerSecond` (and holds one second of them) has a token. Past both, the
 * retry is refused and counted as budget exhaustion: under a wide failure, retries cannot
 * multiply the load on a backend that is already failing.
 */
import type { Clock } from '../../clock.js';

export class RetryBudget {
  #active = 0;
  #retrying = 0;
  #tokens: number;
  #refilledAt: number;
  #exhausted = 0;

  constructor(
    readonly percent: number,
    readonly minRetriesPerSecond: number,
    /** Monotonic ms. */
    private readonly clock: Clock,
  ) {
    this.#tokens = minRetriesPerSecond;
    this.#refilledAt = clock.now();
  }

  /** A request to the backend started (call `ended` once when it is over). */
  started(): void {
    this.#active++;
  }

  ended(): void {
    if (this.#active > 0) this.#active--;
  }

  /** Whether a retry may start now; if so it counts as in flight until `retryEnded`. */
  tryRetry(): boolean {
    if (this.#retrying * 100 < this.percent * this.#active) {
      this.#retrying++;
      return true;
    }
    const now = this.clock.now();
    const cap = this.minRetriesPerSecond;
    this.#tokens = Math.min(cap, this.#tokens + ((now - this.#refilledAt) * cap) / 1000);
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#retrying++;
      return true;
    }
    this.#exhausted++;
    return false;
  }

  /** A retry that `tryRetry` allowed is over. */
  retryEnded(): void {
    if (this.#retrying > 0) this.#retrying--;
  }

  /** Requests and retries in flight, and retries refused so far. */
  view(): { readonly active: number; readonly retrying: number; readonly exhausted: number } {
    return { active: this.#active, retrying: this.#retrying, exhausted: this.#exhausted };
  }
}
