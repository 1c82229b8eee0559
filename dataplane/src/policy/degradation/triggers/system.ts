/**
 * The gateway's own load (CPU, memory, event-loop lag), sampled on a timer — never on the request
 * path — into a ring of samples from which a trigger reads the mean over its window.
 */
import type { Clock, TimerHandle, Timers } from '../../../clock.js';

/** Where samples come from (system-probe.ts reads the process; tests pass their own). */
export interface SystemProbe {
  /** CPU time the process has used so far (user + system), ms. */
  cpuMs(): number;
  /** Resident memory of the process, bytes. */
  rssBytes(): number;
  /** Memory the process may use (its cgroup's limit, else the host's), bytes. */
  readonly memoryLimitBytes: number;
  /** The event loop's delay since the previous call (99th percentile, ms); starts a new interval. */
  takeLoopLagMs(): number;
}

export type SystemSignal = 'CPU' | 'Memory' | 'EventLoopLag';

interface Sample {
  at: number;
  /** CPU time over wall time of the interval, as a percent of one core (the event loop's). */
  cpu: number;
  /** Resident memory as a percent of the limit. */
  memory: number;
  lagMs: number;
}

export class SystemSignals {
  readonly #ring: Sample[] = [];
  #next = 0;
  #timer: TimerHandle | undefined = undefined;
  #lastAt = 0;
  #lastCpu = 0;
  readonly #capacity: number;

  constructor(
    private readonly probe: SystemProbe,
    private readonly clock: Clock,
    private readonly timers: Timers,
    readonly intervalMs = 1000,
    maxWindowMs = 3_600_000,
  ) {
    this.#capacity = Math.ceil(maxWindowMs / intervalMs) + 1;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts sampling (idempotent). */
  start(): void {
    if (this.#timer) return;
    this.#lastAt = this.clock.now();
    this.#lastCpu = this.probe.cpuMs();
    this.probe.takeLoopLagMs();
    const tick = (): void => {
      this.sample();
      this.#timer = this.timers.after(this.intervalMs, tick);
    };
    this.#timer = this.timers.after(this.intervalMs, tick);
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Takes one sample now (the timer calls this). */
  sample(): void {
    const at = this.clock.now();
    const cpuMs = this.probe.cpuMs();
    const elapsed = at - this.#lastAt;
    const cpu = elapsed > 0 ? (100 * (cpuMs - this.#lastCpu)) / elapsed : 0;
    this.#lastAt = at;
    this.#lastCpu = cpuMs;
    const limit = this.probe.memoryLimitBytes;
    const s: Sample = {
      at,
      cpu: Math.max(0, cpu),
      memory: limit > 0 ? (100 * this.probe.rssBytes()) / limit : 0,
      lagMs: this.probe.takeLoopLagMs(),
    };
    if (this.#ring.length < this.#capacity) this.#ring.push(s);
    else this.#ring[this.#next] = s;
    this.#next = (this.#next + 1) % this.#capacity;
  }

  /** The mean of a signal over the samples taken in the last `windowMs` before `now`; undefined when none. */
  mean(signal: SystemSignal, windowMs: number, now: number): number | undefined {
    let sum = 0;
    let n = 0;
    for (const s of this.#ring) {
      if (s.at <= now - windowMs || s.at > now) continue;
      sum += signal === 'CPU' ? s.cpu : signal === 'Memory' ? s.memory : s.lagMs;
      n++;
    }
    return n === 0 ? undefined : sum / n;
  }
}
