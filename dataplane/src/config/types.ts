/** What the request path runs on: one Gateway's IR and the backends it uses, validated. */
import type { BackendIR, GatewayIR } from '@jarvis/api';

export interface GatewayConfig {
  readonly gateway: GatewayIR;
  readonly backends: readonly BackendIR[];
  /** Where it came from and which version, for logs, metrics and /admin/config. */
  readonly source: 'file' | 'xds' | 'state';
  readonly version: string;
}

/** A config source hands over new configs; the gateway decides (compiles) and answers. */
export type ApplyResult = { ok: true } | { ok: false; error: string };
/** May take its time (a large config is compiled in slices, between which traffic is served). */
export type ApplyConfig = (config: GatewayConfig) => ApplyResult | Promise<ApplyResult>;
