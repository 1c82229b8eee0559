/**
 * Coalesces bursts of change notifications into reconciles: a reconcile runs `debounceMs` after
 * the last change, but never later than `maxDelayMs` after the first change it covers, and never
 * two at once (changes during a reconcile schedule one more).
 */
import type { Clock, Scheduler, TimerHandle } from '../clock.js';

export interface CoalescingQueueOptions {
  readonly debounceMs: number;
  readonly maxDelayMs: number;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly onError: (err: unknown) => void;
}

export class CoalescingQueue {
  #firstPendingAt: number | undefined;
  #pending = 0;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly work: () => Promise<void>,
    private readonly options: CoalescingQueueOptions,
  ) {}

  /** Changes seen since the last reconcile started. */
  get depth(): number {
    return this.#pending;
  }

  /** Notes a change; schedules a reconcile. */
  trigger(): void {
    const now = this.options.clock.now();
    this.#pending++;
    this.#firstPendingAt ??= now;
    if (this.#running) return; // rescheduled when the running reconcile ends
    this.#schedule(now);
  }

  /** Resolves once no reconcile is running or pending. */
  async idle(): Promise<void> {
    while (this.#running || this.#timer) {
      if (this.#running) await this.#running;
      else return;
    }
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #schedule(now: number): void {
    const first = this.#firstPendingAt ?? now;
    const at = Math.min(now + this.options.debounceMs, first + this.options.maxDelayMs);
    this.#timer?.cancel();
    this.#timer = this.options.scheduler.after(Math.max(0, at - now), () => this.#fire());
  }

  #fire(): void {
    this.#timer = undefined;
    this.#pending = 0;
    this.#firstPendingAt = undefined;
    this.#running = this.work()
      .catch((err: unknown) => this.options.onError(err))
      .finally(() => {
        this.#running = undefined;
        if (this.#pending > 0) this.#schedule(this.options.clock.now());
      });
  }
}
