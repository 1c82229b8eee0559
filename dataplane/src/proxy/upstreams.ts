/**
 * Connection pools to backend endpoints and the choice of endpoint. One undici Pool per endpoint
 * (address:port), reused across configs. Only ready endpoints get traffic. `*.localhost` names
 * resolve to loopback (RFC 6761), which is how tests and the demo point EndpointSlices at local
 * processes.
 *
 * A new config's backends are prepared beside the running ones and take effect only on commit:
 * a config that fails to compile later leaves every pool of the running config untouched.
 */
import type { BackendIR } from '@jarvis/api';
import { Pool } from 'undici';

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
  /** Picks a ready endpoint (round robin); undefined when none is ready. */
  pick(): Endpoint | undefined;
  readonly readyCount: number;
  readonly endpoints: readonly Endpoint[];
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

  /** Builds the backends of a config without changing the running ones (see PreparedBackends). */
  prepare(backends: readonly BackendIR[]): PreparedBackends {
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
      const endpoints = b.endpoints.filter((e) => e.ready).map((e) => endpoint(originOf(e.address, e.port)));
      let next = 0;
      out.set(b.id, {
        id: b.id,
        readyCount: endpoints.length,
        endpoints,
        pick: () => (endpoints.length === 0 ? undefined : endpoints[next++ % endpoints.length]),
      });
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
