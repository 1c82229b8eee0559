/**
 * A gateway-side xDS client for e2e tests (the real gateway arrives with the gateway issue): it
 * subscribes like a gateway, records every config it accepts with the time it arrived, can be
 * told to reject (NACK) configs, and fails over between operator replicas keeping its config.
 */
import { credentials } from '@grpc/grpc-js';
import { BACKEND_TYPE_URL, GATEWAY_TYPE_URL, XdsClient, allFeatures, type DecodedResource } from '@jarvis/api';
import { clock, sleep } from './clock.js';

export interface Received {
  readonly typeUrl: string;
  readonly version: string;
  readonly resources: readonly DecodedResource[];
  readonly at: number;
}

export interface TestGateway {
  readonly nodeId: string;
  /** Every accepted config, in order. */
  readonly received: Received[];
  /** Responses the client rejected. */
  readonly rejected: { typeUrl: string; version: string; error: string; at: number }[];
  /** The gateway resource payload currently held. */
  gateway(): Record<string, unknown> | undefined;
  backends(): Record<string, unknown>[];
  connectedTo(): string | undefined;
  waitFor<T>(what: string, probe: () => T | undefined, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export function connectTestGateway(options: {
  targets: readonly string[];
  group: string;
  nodeId: string;
  /**
   * What the test gateway announces it enforces (xDS node client_features); default: every
   * feature (allFeatures()), so that tests of the operator's ACK/NACK bookkeeping see Enforced.
   */
  features?: readonly string[];
  /** Return an error message to NACK a response. */
  reject?: (typeUrl: string, resources: readonly DecodedResource[]) => string | undefined;
}): TestGateway {
  const received: Received[] = [];
  const rejected: TestGateway['rejected'] = [];
  const held = new Map<string, Received>();
  let client: XdsClient | undefined;
  let closed = false;
  let targetIndex = 0;
  let connected: string | undefined;

  const open = () => {
    if (closed) return;
    const target = options.targets[targetIndex % options.targets.length] ?? '';
    const versions = Object.fromEntries([...held.entries()].map(([t, r]) => [t, r.version]));
    const c: XdsClient = new XdsClient({
      target,
      credentials: credentials.createInsecure(),
      node: { id: options.nodeId, cluster: options.group, client_features: options.features ?? allFeatures() },
      subscriptions: [{ typeUrl: BACKEND_TYPE_URL }, { typeUrl: GATEWAY_TYPE_URL, names: [options.group] }],
      initialVersions: versions,
      backoff: { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.2 },
      validate: (typeUrl, resources) => {
        const error = options.reject?.(typeUrl, resources);
        return error === undefined ? { ok: true } : { ok: false, error };
      },
      events: {
        connected: () => void (connected = target),
        disconnected: () => {
          connected = undefined;
          if (closed || options.targets.length < 2 || client !== c) return;
          // Fail over to the next replica, keeping the config we hold.
          targetIndex++;
          client = undefined;
          void c.close().then(open);
        },
        accepted: (typeUrl, config) => {
          const r = { typeUrl, version: config.version, resources: config.resources, at: clock.now() };
          received.push(r);
          held.set(typeUrl, r);
        },
        rejected: (typeUrl, version, error) => rejected.push({ typeUrl, version, error, at: clock.now() }),
      },
    });
    client = c;
    c.start();
  };
  open();

  return {
    nodeId: options.nodeId,
    received,
    rejected,
    gateway: () => held.get(GATEWAY_TYPE_URL)?.resources[0]?.payload as Record<string, unknown> | undefined,
    backends: () => (held.get(BACKEND_TYPE_URL)?.resources ?? []).map((r) => r.payload as Record<string, unknown>),
    connectedTo: () => connected,
    async waitFor(what, probe, timeoutMs = 15_000) {
      const start = clock.now();
      for (;;) {
        const value = probe();
        if (value !== undefined) return value;
        if (clock.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
      }
    },
    async close() {
      closed = true;
      await client?.close();
    },
  };
}
