/**
 * The gateway's backend guards (guard.ts), one per backend id of the config in force; owned by
 * main.ts, so that what the gateway has learnt about its backends survives config reloads (an
 * EndpointSlice change, a new limit): breakers, retry budgets, endpoint health and ejections.
 *
 * `prepare` builds the guards of a new config beside the running ones and starts nothing.
 * `commit` puts them in force: each adopts its predecessor of the same id (where the settings are
 * unchanged), starts its new health loops and outlier interval, and what left the config stops —
 * the guards of removed backends, the endpoints no guard took over. `abort` drops the new guards;
 * nothing of the running ones was touched. State is per gateway process.
 */
import type { BackendIR } from '@jarvis/api';
import { BackendGuard, type BackendView, type GuardDeps } from './guard.js';

export interface PreparedGuards {
  readonly guards: ReadonlyMap<string, BackendGuard>;
  commit(): void;
  abort(): void;
}

export class BackendGuardRegistry {
  #guards = new Map<string, BackendGuard>();

  constructor(private readonly deps: GuardDeps) {}

  prepare(backends: readonly BackendIR[]): PreparedGuards {
    const next = new Map<string, BackendGuard>();
    for (const b of backends) next.set(b.id, new BackendGuard(b, this.deps));
    let settled = false;
    return {
      guards: next,
      commit: () => {
        if (settled) return;
        settled = true;
        const previous = this.#guards;
        for (const g of next.values()) {
          const old = previous.get(g.id);
          if (old) g.adopt(old);
        }
        for (const old of previous.values()) old.stop();
        for (const g of next.values()) g.start();
        this.#guards = next;
      },
      abort: () => {
        settled = true;
      },
    };
  }

  guard(id: string): BackendGuard | undefined {
    return this.#guards.get(id);
  }

  get size(): number {
    return this.#guards.size;
  }

  /** Every backend of the config in force, by id: what `GET /admin/backends` shows. */
  view(): BackendView[] {
    return [...this.#guards.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((g) => g.view());
  }

  /** Stops every loop and timer (shutdown). */
  close(): void {
    for (const g of this.#guards.values()) g.stop();
    this.#guards = new Map();
  }
}
