/**
 * The ADS gRPC server: envoy.service.discovery.v3.AggregatedDiscoveryService /
 * StreamAggregatedResources (State of the World) over the snapshot cache. Plaintext or TLS
 * (optionally mTLS). Protocol rules live in stream.ts; this file is the plumbing.
 */
import { readFile } from 'node:fs/promises';
import { Server, ServerCredentials, status as Status, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { RESOURCE_TYPE_URLS, adsServiceDefinition, parseDiscoveryRequest, type DiscoveryResponse, type NodeInfo } from '@jarvis/api';
import type { SnapshotCache } from './cache.js';
import type { GatewayStatus, StreamInfo, XdsObserver } from './observer.js';
import { AdsStream } from './stream.js';

export interface XdsTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, clients must present a certificate signed by this CA (mTLS). */
  readonly caFile?: string;
}

/** A gateway's group from its node; `{ error }` refuses the stream (INVALID_ARGUMENT). */
export type GroupOf = (node: NodeInfo) => string | { error: string };

/** Default: `node.cluster` holds `<namespace>/<gateway name>`. */
export const groupFromCluster: GroupOf = (node) =>
  /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(node.cluster)
    ? node.cluster
    : { error: `node.cluster "${node.cluster.slice(0, 253)}" is not <namespace>/<gateway name>` };

export interface XdsServerOptions {
  /** `host:port`; port 0 picks a free port. */
  readonly listen: string;
  /** Absent: plaintext. */
  readonly tls?: XdsTlsOptions;
  readonly cache: SnapshotCache;
  /** Default: groupFromCluster. */
  readonly groupOf?: GroupOf;
  readonly observer?: XdsObserver;
  /** Default: our two resource types. */
  readonly typeUrls?: readonly string[];
  /** Streams beyond this are refused with RESOURCE_EXHAUSTED; default 10 000. */
  readonly maxStreams?: number;
  /** close() waits this long for streams to end before forcing; default 5 s. */
  readonly shutdownGraceMs?: number;
}

export interface XdsServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** One entry per connected stream. */
  connectedGateways(): GatewayStatus[];
  /** Stops accepting, ends every stream with UNAVAILABLE (gateways reconnect elsewhere), then stops. */
  close(): Promise<void>;
}

type Call = ServerDuplexStream<object, DiscoveryResponse>;

async function serverCredentials(tls: XdsTlsOptions | undefined): Promise<ServerCredentials> {
  if (tls === undefined) return ServerCredentials.createInsecure();
  const [cert, key, ca] = await Promise.all([
    readFile(tls.certFile),
    readFile(tls.keyFile),
    tls.caFile === undefined ? Promise.resolve(null) : readFile(tls.caFile),
  ]);
  return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
}

function endWith(call: Call, code: Status, details: string): void {
  const err: Partial<ServiceError> = { code, details, message: details };
  call.emit('error', err);
}

export async function createXdsServer(options: XdsServerOptions): Promise<XdsServer> {
  const groupOf = options.groupOf ?? groupFromCluster;
  const observer = options.observer ?? {};
  const typeUrls: ReadonlySet<string> = new Set(options.typeUrls ?? RESOURCE_TYPE_URLS);
  const maxStreams = options.maxStreams ?? 10_000;
  const cache = options.cache;
  const calls = new Map<Call, AdsStream | undefined>();
  const byGroup = new Map<string, Set<AdsStream>>();
  const pumpScheduled = new WeakSet<AdsStream>();
  let nextStreamId = 0;
  let closing = false;

  // Requests that arrive together (a client subscribing to several types at once) are applied
  // before anything is sent, so that the first push already follows make-before-break order.
  const schedulePump = (s: AdsStream): void => {
    if (pumpScheduled.has(s)) return;
    pumpScheduled.add(s);
    setImmediate(() => {
      pumpScheduled.delete(s);
      if (byGroup.get(s.info.group)?.has(s)) s.pump();
    });
  };

  const unwatch = cache.watch((group) => {
    for (const s of byGroup.get(group) ?? []) schedulePump(s);
  });

  const handler = (call: Call): void => {
    if (closing) {
      endWith(call, Status.UNAVAILABLE, 'xDS server is shutting down');
      return;
    }
    if (calls.size >= maxStreams) {
      endWith(call, Status.RESOURCE_EXHAUSTED, `too many xDS streams (limit ${maxStreams})`);
      return;
    }
    calls.set(call, undefined);
    const streamId = `s${++nextStreamId}`;
    let stream: AdsStream | undefined;
    let ended = false;
    const finish = (reason: string): void => {
      if (ended) return;
      ended = true;
      calls.delete(call);
      if (stream !== undefined) {
        byGroup.get(stream.info.group)?.delete(stream);
        if (byGroup.get(stream.info.group)?.size === 0) byGroup.delete(stream.info.group);
        observer.disconnected?.(stream.info, reason);
      }
    };
    const fail = (code: Status, details: string): void => {
      endWith(call, code, details);
      finish(details);
    };

    call.on('data', (raw: unknown) => {
      if (ended) return;
      const req = parseDiscoveryRequest(raw);
      if (typeof req === 'string') return fail(Status.INVALID_ARGUMENT, `invalid DiscoveryRequest: ${req}`);
      if (stream === undefined) {
        // The node is read from the first request only.
        if (!req.node || req.node.id === '') return fail(Status.INVALID_ARGUMENT, 'the first DiscoveryRequest must carry node.id');
        const group = groupOf(req.node);
        if (typeof group !== 'string') return fail(Status.INVALID_ARGUMENT, group.error);
        const info: StreamInfo = { streamId, nodeId: req.node.id, group, peer: call.getPeer(), features: req.node.client_features ?? [] };
        const s = new AdsStream({
          info,
          snapshot: () => cache.getSnapshot(group),
          recent: (typeUrl, version) => cache.recent(group, typeUrl, version),
          send: (res) => {
            if (!ended) call.write(res);
          },
          observer,
          typeUrls,
        });
        stream = s;
        calls.set(call, s);
        let set = byGroup.get(group);
        if (set === undefined) byGroup.set(group, (set = new Set()));
        set.add(s);
        observer.connected?.(info);
      }
      stream.onRequest(req);
      schedulePump(stream);
    });
    call.on('end', () => {
      // The gateway half-closed: end our side too.
      if (!ended) call.end();
      finish('client closed the stream');
    });
    call.on('cancelled', () => finish('cancelled'));
    call.on('error', (e: unknown) => finish(e instanceof Error ? e.message : 'stream error'));
    call.on('close', () => finish('closed'));
  };

  const server = new Server();
  server.addService(adsServiceDefinition(), { StreamAggregatedResources: handler });
  const creds = await serverCredentials(options.tls);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, creds, (err, p) => (err ? reject(err) : resolve(p)));
  });

  return {
    port,
    connectedGateways: () => {
      const out: GatewayStatus[] = [];
      for (const s of calls.values()) if (s !== undefined) out.push(s.status());
      return out.sort((a, b) => (a.streamId < b.streamId ? -1 : 1));
    },
    close: async () => {
      if (closing) return;
      closing = true;
      unwatch();
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      for (const call of [...calls.keys()]) endWith(call, Status.UNAVAILABLE, 'xDS server is shutting down');
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, options.shutdownGraceMs ?? 5_000);
      });
      await Promise.race([drained, forced]);
      clearTimeout(timer);
    },
  };
}
