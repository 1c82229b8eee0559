/**
 * A config on its way from the loader's worker thread to the request path's thread. Receiving a
 * large object graph is one long synchronous step on the receiving side (structured clone: ~0.4 s
 * for 11,000 routes here), so the config travels as JSON text, one string per route and backend,
 * and the receiver parses it a slice at a time, yielding to pending requests between slices.
 */
import type { BackendIR, GatewayIR, RouteIR } from '@jarvis/api';
import type { GatewayConfig } from './types.js';

export interface PackedConfig {
  /** The GatewayIR without its routes. */
  readonly gateway: string;
  readonly routes: readonly string[];
  readonly backends: readonly string[];
  readonly version: string;
}

export function packConfig(config: GatewayConfig): PackedConfig {
  return {
    gateway: JSON.stringify({ ...config.gateway, routes: [] }),
    routes: config.gateway.routes.map((r) => JSON.stringify(r)),
    backends: config.backends.map((b) => JSON.stringify(b)),
    version: config.version,
  };
}

/** Items parsed per turn of the event loop. */
const SLICE = 200;

/** The config back as objects; `yieldTurn` lets the event loop run between slices. */
export async function unpackConfig(packed: PackedConfig, yieldTurn: () => Promise<void>): Promise<GatewayConfig> {
  const parseAll = async <T>(texts: readonly string[]): Promise<T[]> => {
    const out: T[] = [];
    for (let i = 0; i < texts.length; i++) {
      if (i > 0 && i % SLICE === 0) await yieldTurn();
      out.push(JSON.parse(texts[i]!) as T);
    }
    return out;
  };
  const routes = await parseAll<RouteIR>(packed.routes);
  const backends = await parseAll<BackendIR>(packed.backends);
  const gateway = { ...(JSON.parse(packed.gateway) as GatewayIR), routes };
  return { gateway, backends, source: 'file', version: packed.version };
}
