/**
 * Operator mode: the gateway's config over ADS. Every response is validated before use (the IR
 * schema and invariants, and a trial compile of the gateway — bad regular expressions included);
 * a bad one is NACKed with the reason and the previous config stays. Backends arrive before the
 * Gateway resource that references them (make-before-break), so a config is applied when the
 * Gateway resource is accepted, with the backends held at that moment.
 */
import { credentials as grpcCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import {
  BACKEND_TYPE_URL,
  GATEWAY_TYPE_URL,
  XdsClient,
  validateBackendResource,
  validateGatewayResource,
  type BackendIR,
  type DecodedResource,
  type GatewayIR,
} from '@jarvis/api';
import type { ApplyConfig, ApplyResult, GatewayConfig } from './types.js';

export interface XdsSourceOptions {
  readonly target: string;
  /** `<namespace>/<gateway>`: the Gateway this process serves. */
  readonly group: string;
  readonly nodeId: string;
  /** What this gateway enforces (node.client_features): the operator's Enforced condition depends on it. */
  readonly features: readonly string[];
  readonly tls?: { readonly caFile: string; readonly certFile?: string; readonly keyFile?: string };
  readonly initialVersions?: Readonly<Record<string, string>>;
  readonly initialBackends?: readonly BackendIR[];
  readonly apply: ApplyConfig;
  readonly onApplied: (config: GatewayConfig, versions: Readonly<Record<string, string>>) => void;
  readonly onRejected: (typeUrl: string, error: string) => void;
  readonly onConnection: (connected: boolean) => void;
}

export class XdsSource {
  readonly #client: XdsClient;
  #backends = new Map<string, BackendIR>();

  constructor(private readonly o: XdsSourceOptions) {
    for (const b of o.initialBackends ?? []) this.#backends.set(b.id, b);
    let creds: ChannelCredentials = grpcCredentials.createInsecure();
    if (o.tls) {
      creds = grpcCredentials.createSsl(
        readFileSync(o.tls.caFile),
        o.tls.keyFile ? readFileSync(o.tls.keyFile) : null,
        o.tls.certFile ? readFileSync(o.tls.certFile) : null,
      );
    }
    this.#client = new XdsClient({
      target: o.target,
      credentials: creds,
      node: { id: o.nodeId, cluster: o.group, user_agent_name: 'jarvis-gateway', client_features: o.features },
      subscriptions: [{ typeUrl: BACKEND_TYPE_URL }, { typeUrl: GATEWAY_TYPE_URL, names: [o.group] }],
      ...(o.initialVersions ? { initialVersions: o.initialVersions } : {}),
      validate: (typeUrl, resources) => this.#validate(typeUrl, resources),
      events: {
        connected: () => o.onConnection(true),
        disconnected: () => o.onConnection(false),
        rejected: (typeUrl, _version, error) => o.onRejected(typeUrl, error),
      },
    });
  }

  start(): void {
    this.#client.start();
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  #validate(typeUrl: string, resources: readonly DecodedResource[]): ApplyResult | Promise<ApplyResult> {
    if (typeUrl === BACKEND_TYPE_URL) {
      const next = new Map<string, BackendIR>();
      for (const r of resources) {
        const checked = validateBackendResource(r.payload);
        if (!checked.ok) return { ok: false, error: `backend ${r.name}: ${checked.errors.slice(0, 5).join('; ')}` };
        next.set(checked.backend.id, checked.backend);
      }
      this.#backends = next;
      return { ok: true };
    }
    if (typeUrl !== GATEWAY_TYPE_URL) return { ok: false, error: `unexpected type ${typeUrl}` };
    const mine = resources.find((r) => r.name === this.o.group);
    if (!mine) return { ok: true }; // our Gateway is gone: keep serving the last config
    const checked = validateGatewayResource(mine.payload);
    if (!checked.ok) return { ok: false, error: `gateway ${mine.name}: ${checked.errors.slice(0, 5).join('; ')}` };
    const gateway: GatewayIR = checked.gateway;
    const missing = gateway.routes.flatMap((r) => r.backends.map((b) => b.backend)).filter((id) => !this.#backends.has(id));
    if (missing.length > 0)
      return { ok: false, error: `gateway ${mine.name} references unknown backends: ${[...new Set(missing)].join(', ')}` };
    const versions = this.#client.versions();
    const config: GatewayConfig = { gateway, backends: [...this.#backends.values()], source: 'xds', version: mine.contentHash };
    const done = (applied: ApplyResult): ApplyResult => {
      if (applied.ok) this.o.onApplied(config, versions);
      return applied;
    };
    const applied = this.o.apply(config);
    return applied instanceof Promise ? applied.then(done) : done(applied);
  }
}
