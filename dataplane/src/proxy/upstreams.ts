/**
 * Connection pools to backend endpoints and the choice of endpoint. One undici Pool per endpoint
 * (address:port), reused across configs. Only endpoints the EndpointSlice calls ready get
 * traffic, and of those only the ones the backend's guard (policy/breaker) finds healthy and not
 * ejected — unless fewer than its panic threshold are, then every ready one (never take a backend
 * down to nothing). `*.localhost` names resolve to loopback (RFC 6761), which is how tests and the
 * demo point EndpointSlices at local processes.
 *
 * A new config's backends are prepared beside the running ones and take effect only on commit:
 * a config that fails to compile later leaves every pool of the running config untouched.
 */
import type { BackendIR } from '@jarvis/api';
import { Pool } from 'undici';
import type { BackendGuard } from '../policy/breaker/guard.js';

export interface UpstreamOptions {
  readonly connectionsPerEndpoint: number;
  readonly connectTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

export function originOf(address: string, port: number): string {
  const host = address === 'localhost' || address.endsWith('.localhost') ? '127.0.0.1' : address;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

export interface Endpoint {
  /** `http://address:port`, the key of its pool. */
  readonly origin: string;
  readonly pool: Pool;
}

export interface Backend {
  readonly id: string;
  /** Its breaker, retry settings, endpoint health and ejections. */
  readonly guard: BackendGuard;
  /**
   * A ready endpoint, round robin, that is up (healthy, not ejected) — or any ready one while the
   * backend is in panic — and not one of `tried` (origins); undefined when there is none.
   */
  pick(tried?: readonly string[]): Endpoint | undefined;
  /** Whether `pick(tried)` would find an endpoint (without moving the round robin on). */
  hasEndpoint(tried?: readonly string[]): boolean;
  readonly readyCount: number;
  /** The ready endpoints. */
  readonly endpoints: readonly Endpoint[];
}

/** A backend's ready endpoints with their pools, chosen under its guard. */
export class GuardedBackend implements Backend {
  #next = 0;

  constructor(
    readonly id: string,
    readonly endpoints: readonly Endpoint[],
    readonly guard: BackendGuard,
  ) {}

  get readyCount(): number {
    return this.endpoints.length;
  }

  hasEndpoint(tried?: readonly string[]): boolean {
    const next = this.#next;
    const found = this.pick(tried) !== undefined;
    this.#next = next;
    return found;
  }

  pick(tried?: readonly string[]): Endpoint | undefined {
    const list = this.endpoints;
    const n = list.length;
    if (n === 0) return undefined;
    const g = this.guard;
    const anyDown = g.down > 0;
    if (!anyDown && (tried === undefined || tried.length === 0)) {
      const e = list[this.#next];
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
      return e;
    }
    let panic = false;
    if (anyDown) {
      let up = 0;
      for (const e of list) if (g.available(e.origin)) up++;
      panic = g.inPanic(up, n);
    }
    for (let k = 0; k < n; k++) {
      const i = (this.#next + k) % n;
      const e = list[i];
      if (e === undefined || tried?.includes(e.origin)) continue;
      if (anyDown && !panic && !g.available(e.origin)) continue;
      this.#next = i + 1 === n ? 0 : i + 1;
      return e;
    }
    return undefined;
  }
}

/** A config's backends, prepared but not yet in force. */
export interface PreparedBackends {
  readonly backends: ReadonlyMap<string, Backend>;
  /** The new config is in force: keep its new pools, close the pools no backend uses any more. */
  commit(): void;
  /** The new config was refused: drop the pools made for it; the running ones stay as they are. */
  abort(): void;
}

export class Upstreams {
  readonly #pools = new Map<string, Pool>();
  constructor(private readonly options: UpstreamOptions) {}

  #newPool(origin: string): Pool {
    return new Pool(origin, {
      connections: this.options.connectionsPerEndpoint,
      connectTimeout: this.options.connectTimeoutMs,
      keepAliveTimeout: this.options.keepAliveTimeoutMs,
      pipelining: 1,
    });
  }

  /**
   * Builds the backends of a config without changing the running ones (see PreparedBackends),
   * each under its guard from `guards` (prepared for the same config).
   */
  prepare(backends: readonly BackendIR[], guards: ReadonlyMap<string, BackendGuard>): PreparedBackends {
    for (const b of backends) if (!guards.has(b.id)) throw new Error(`backend ${b.id} has no guard`);
    const created = new Map<string, Pool>();
    const used = new Set<string>();
    const endpoint = (origin: string): Endpoint => {
      used.add(origin);
      let pool = this.#pools.get(origin) ?? created.get(origin);
      if (!pool) created.set(origin, (pool = this.#newPool(origin)));
      return { origin, pool };
    };
    const out = new Map<string, Backend>();
    for (const b of backends) {
      const guard = guards.get(b.id) as BackendGuard;
      const endpoints = b.endpoints.filter((e) => e.ready).map((e) => endpoint(originOf(e.address, e.port)));
      out.set(b.id, new GuardedBackend(b.id, endpoints, guard));
    }
    let settled = false;
    return {
      backends: out,
      commit: () => {
        if (settled) return;
        settled = true;
        for (const [origin, pool] of created) this.#pools.set(origin, pool);
        for (const [origin, pool] of this.#pools) {
          if (!used.has(origin)) {
            this.#pools.delete(origin);
            void pool.close().catch(() => pool.destroy());
          }
        }
      },
      abort: () => {
        if (settled) return;
        settled = true;
        for (const pool of created.values()) void pool.destroy();
      },
    };
  }

  /** Origins with a pool (for tests and the admin view). */
  origins(): string[] {
    return [...this.#pools.keys()].sort();
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.close().catch(() => p.destroy())));
    this.#pools.clear();
  }
}
