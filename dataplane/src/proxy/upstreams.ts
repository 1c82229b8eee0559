/**
 * Connection pools to backend endpoints and the choice of endpoint. One undici Pool per endpoint
 * (address:port), reused across configs; pools of endpoints that left the config are closed.
 * Only ready endpoints get traffic. `*.localhost` names resolve to loopback (RFC 6761), which is
 * how tests and the demo point EndpointSlices at local processes.
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

export interface Backend {
  readonly id: string;
  /** Picks a ready endpoint (round robin); undefined when none is ready. */
  pick(): Pool | undefined;
  readonly readyCount: number;
}

export class Upstreams {
  readonly #pools = new Map<string, Pool>();
  constructor(private readonly options: UpstreamOptions) {}

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.options.connectionsPerEndpoint,
        connectTimeout: this.options.connectTimeoutMs,
        keepAliveTimeout: this.options.keepAliveTimeoutMs,
        pipelining: 1,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /** Builds the backends of a config; pools for endpoints no longer present are closed. */
  compile(backends: readonly BackendIR[]): Map<string, Backend> {
    const used = new Set<string>();
    const out = new Map<string, Backend>();
    for (const b of backends) {
      const pools = b.endpoints
        .filter((e) => e.ready)
        .map((e) => {
          const origin = originOf(e.address, e.port);
          used.add(origin);
          return this.#pool(origin);
        });
      let next = 0;
      out.set(b.id, {
        id: b.id,
        readyCount: pools.length,
        pick: () => (pools.length === 0 ? undefined : pools[next++ % pools.length]),
      });
    }
    for (const [origin, pool] of this.#pools) {
      if (!used.has(origin)) {
        this.#pools.delete(origin);
        void pool.close().catch(() => pool.destroy());
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.close().catch(() => p.destroy())));
    this.#pools.clear();
  }
}
