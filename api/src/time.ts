/**
 * The one source of time for the operator and the gateway. Logic takes a Clock and Timers; only
 * this module reads the wall clock or arms real timers, so tests drive time by hand.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export interface TimerHandle {
  cancel(): void;
}

export interface Timers {
  /** Runs `fn` once after `ms`; the timer does not keep the process alive. */
  after(ms: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * For durations only (latency histograms), never for timestamps: fractional milliseconds from an
 * arbitrary origin, which never go back. The wall clock's whole milliseconds cannot tell a
 * 0.2 ms request from a 0.9 ms one, and it jumps when the system time is set.
 */
export const monotonicClock: Clock = { now: () => performance.now() };

export const systemTimers: Timers = {
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/** A clock and scheduler for tests: time moves only when `advance` is called. */
export class ManualTime implements Clock, Timers {
  #now: number;
  #timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];
  #seq = 0;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** The same as `after`, in the xDS client's Scheduler shape. */
  schedule(ms: number, fn: () => void): () => void {
    const handle = this.after(ms, fn);
    return () => handle.cancel();
  }

  after(ms: number, fn: () => void): TimerHandle {
    const timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Moves time forward, firing due timers in order (including timers they arm). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = end;
  }

  pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }
}
