/**
 * Operator mode: the gateway's config over ADS. Every response is validated before use (the IR
 * schema and invariants, and a trial compile of the gateway — bad regular expressions included);
 * a bad one is NACKed with the reason and the previous config stays. Backends arrive before the
 * Gateway resource that references them (make-before-break); a backends response on its own
 * (endpoints changed, the Gateway did not) compiles the running Gateway again with the new
 * backends. The rules are in xds-state.ts; what is logged about the link, in xds-report.ts.
 */
import { credentials as grpcCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { BACKEND_TYPE_URL, GATEWAY_TYPE_URL, XdsClient, type DecodedResource, type Logger } from '@jarvis/api';
import type { Clock, TimerHandle, Timers } from '../clock.js';
import type { ApplyConfig, GatewayConfig } from './types.js';
import { XdsReport } from './xds-report.js';
import { XdsConfigState, type XdsDecision } from './xds-state.js';

export interface XdsSourceOptions {
  readonly target: string;
  /** `<namespace>/<gateway>`: the Gateway this process serves. */
  readonly group: string;
  readonly nodeId: string;
  /** What this gateway enforces (node.client_features): the operator's Enforced condition depends on it. */
  readonly features: readonly string[];
  /** PEM contents, read by the caller (so that a missing file is reported before anything starts). */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  readonly initialVersions?: Readonly<Record<string, string>>;
  /** The running config from the state dir, if any (already applied). */
  readonly initial?: GatewayConfig;
  readonly apply: ApplyConfig;
  readonly onApplied: (config: GatewayConfig, versions: Readonly<Record<string, string>>) => void;
  readonly onRejected: (typeUrl: string, error: string) => void;
  readonly onConnection: (connected: boolean) => void;
  readonly hasConfig: () => boolean;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly log: Logger;
}

export class XdsSource {
  readonly #client: XdsClient;
  readonly #state: XdsConfigState;
  readonly #report: XdsReport;
  #tick: TimerHandle | undefined;
  #closed = false;

  constructor(private readonly o: XdsSourceOptions) {
    this.#state = new XdsConfigState(o.group, o.apply, o.initial);
    this.#report = new XdsReport({ target: o.target, group: o.group, clock: o.clock, log: o.log });
    let creds: ChannelCredentials = grpcCredentials.createInsecure();
    if (o.tls) creds = grpcCredentials.createSsl(o.tls.ca, o.tls.key ?? null, o.tls.cert ?? null);
    this.#client = new XdsClient({
      target: o.target,
      credentials: creds,
      node: { id: o.nodeId, cluster: o.group, user_agent_name: 'jarvis-gateway', client_features: o.features },
      subscriptions: [{ typeUrl: BACKEND_TYPE_URL }, { typeUrl: GATEWAY_TYPE_URL, names: [o.group] }],
      ...(o.initialVersions ? { initialVersions: o.initialVersions } : {}),
      validate: (typeUrl, resources, version) => this.#validate(typeUrl, resources, version),
      events: {
        connected: () => {
          this.#report.connected();
          o.onConnection(true);
        },
        disconnected: (status, retryInMs) => {
          this.#report.disconnected(status, retryInMs);
          o.onConnection(false);
        },
        rejected: (typeUrl, _version, error) => o.onRejected(typeUrl, error),
      },
    });
  }

  start(): void {
    this.#client.start();
    const tick = () => {
      if (this.#closed) return;
      this.#report.tick(this.#state.listing, this.o.hasConfig());
      this.#tick = this.o.timers.after(1000, tick);
    };
    this.#tick = this.o.timers.after(1000, tick);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#tick?.cancel();
    return this.#client.close();
  }

  #validate(typeUrl: string, resources: readonly DecodedResource[], version: string): XdsDecision | Promise<XdsDecision> {
    const decision =
      typeUrl === BACKEND_TYPE_URL
        ? this.#state.onBackends(resources)
        : typeUrl === GATEWAY_TYPE_URL
          ? this.#state.onGateways(resources)
          : { ok: false as const, error: `unexpected type ${typeUrl}` };
    const done = (d: XdsDecision): XdsDecision => {
      // The versions an ACK of this response leaves the gateway holding.
      if (d.ok && d.applied) this.o.onApplied(d.applied, { ...this.#client.versions(), [typeUrl]: version });
      return d;
    };
    return decision instanceof Promise ? decision.then(done) : done(decision);
  }
}
