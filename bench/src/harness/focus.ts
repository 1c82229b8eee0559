/**
 * Only the gateway measured runs: every other gateway process of the suite is paused (SIGSTOP)
 * for the slice, and continued (SIGCONT) when its own turn comes. Nine idle gateways otherwise
 * wake a couple of hundred times a second each (timers, the event-loop lag histogram) on the
 * same CPUs, evicting the measured process's caches: on one pinned core that added a third to the
 * gateway's CPU per request and little to the bare proxy's, a cost of the bench, not of a
 * deployed gateway (one per pod). The bare proxy, the mock, Redis and the load generator are
 * never paused.
 */
export class Focus {
  readonly #pids = new Set<number>();
  readonly #stopped = new Set<number>();

  constructor(private readonly signal: (pid: number, sig: 'SIGSTOP' | 'SIGCONT') => void = defaultSignal) {}

  /** A gateway process that may be paused while another target is measured. */
  add(pid: number | undefined): void {
    if (pid !== undefined) this.#pids.add(pid);
  }

  /** Lets `running` run (those of them that are gateways) and pauses every other gateway. */
  runOnly(running: readonly (number | undefined)[]): void {
    const keep = new Set(running.filter((p): p is number => p !== undefined));
    for (const pid of this.#pids) {
      if (keep.has(pid)) {
        if (this.#stopped.delete(pid)) this.signal(pid, 'SIGCONT');
      } else if (!this.#stopped.has(pid)) {
        this.#stopped.add(pid);
        this.signal(pid, 'SIGSTOP');
      }
    }
  }

  /** Continues every paused gateway (before they are stopped, and on any way out). */
  resumeAll(): void {
    for (const pid of this.#stopped) this.signal(pid, 'SIGCONT');
    this.#stopped.clear();
  }
}

function defaultSignal(pid: number, sig: 'SIGSTOP' | 'SIGCONT'): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already: its slice reports the failure.
  }
}
