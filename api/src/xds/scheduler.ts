/**
 * Timers behind an interface, so that backoff and retry timing can be driven by tests without
 * real sleeps. Only `timerScheduler` touches the global timers.
 */
export type Cancel = () => void;

export interface Scheduler {
  /** Runs `task` once after `delayMs`; the returned function cancels it. */
  schedule(delayMs: number, task: () => void): Cancel;
}

export const timerScheduler: Scheduler = {
  schedule(delayMs, task) {
    const t = setTimeout(task, delayMs);
    return () => clearTimeout(t);
  },
};

export interface BackoffOptions {
  /** First delay; default 250 ms. */
  readonly initialMs?: number;
  /** Upper bound of a delay (before jitter); default 30 s. */
  readonly maxMs?: number;
  /** Growth per attempt; default 2. */
  readonly multiplier?: number;
  /** Fraction of the delay randomized either way, 0..1; default 0.2 (delay × [0.8, 1.2)). */
  readonly jitter?: number;
}

/** Bounded exponential backoff with proportional jitter. */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #multiplier: number;
  readonly #jitter: number;
  #attempt = 0;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.#initial = Math.max(1, options.initialMs ?? 250);
    this.#max = Math.max(this.#initial, options.maxMs ?? 30_000);
    this.#multiplier = Math.max(1, options.multiplier ?? 2);
    this.#jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2));
  }

  /** The delay before the next attempt; grows until `maxMs`. */
  next(): number {
    const base = Math.min(this.#max, this.#initial * this.#multiplier ** Math.min(this.#attempt, 64));
    this.#attempt++;
    const factor = 1 + this.#jitter * (2 * this.random() - 1);
    return Math.max(0, Math.round(base * factor));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
