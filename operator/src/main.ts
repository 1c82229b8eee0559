#!/usr/bin/env node
/**
 * jarvis-operator: watches the policy CRDs, Gateway API objects, Services and EndpointSlices,
 * translates them into the IR, and serves it to the gateways over xDS. Every replica serves xDS;
 * only the holder of the Lease writes status.
 */
import os from 'node:os';
import { GATEWAY_TYPE_URL, listenError, runBinary } from '@jarvis/api';
import { systemClock, systemScheduler } from './clock.js';
import { USAGE, parseFlags, type OperatorFlags } from './flags.js';
import { createKubeClient, loadKubeConfig } from './kube/client.js';
import { LeaderElector } from './leader/lease.js';
import { startHealthServer } from './observe/health.js';
import { createLogger } from './observe/log.js';
import { createMetrics } from './observe/metrics.js';
import { Reconciler, baseVersion } from './reconcile.js';
import { SnapshotCache, createXdsServer, type XdsServer } from './xds/index.js';

const typeLabel = (typeUrl: string) => (typeUrl === GATEWAY_TYPE_URL ? 'gateway' : 'backend');

async function main(flags: OperatorFlags): Promise<number> {
  const log = createLogger({ level: flags.logLevel, base: { component: 'jarvis-operator', id: flags.identity }, now: systemClock.now });
  const client = createKubeClient(loadKubeConfig(flags.kubeconfig));
  const metrics = createMetrics(() => client.counters);
  const cache = new SnapshotCache();
  // The reconciler reads the xDS server's view of the gateways; the server reports to the reconciler.
  const server: { xds?: XdsServer } = {};
  /** `stream|type|version` → when it was pushed, for the push-to-ACK histogram. Bounded. */
  const pushedAt = new Map<string, number>();
  const reconciler = new Reconciler({
    client,
    clock: systemClock,
    scheduler: systemScheduler,
    log,
    metrics,
    controllerName: flags.controllerName,
    identity: flags.identity,
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    resyncMs: flags.resyncMs,
    cache,
    gateways: () => server.xds?.connectedGateways() ?? [],
  });
  const xdsListen = `${flags.xdsListen.host.includes(':') ? `[${flags.xdsListen.host}]` : flags.xdsListen.host}:${flags.xdsListen.port}`;
  const xds = await createXdsServer({
    listen: xdsListen,
    ...(flags.xdsTls ? { tls: flags.xdsTls } : {}),
    cache,
    observer: {
      connected: (s) => {
        log.info('gateway connected', { node: s.nodeId, group: s.group, peer: s.peer });
        metrics.connectedGateways.set(server.xds?.connectedGateways().length ?? 0);
        reconciler.gatewaysChanged();
        // After the server has registered the stream, so that it is among the connected gateways.
        setImmediate(() => reconciler.warnUnknownGateways());
      },
      disconnected: (s, reason) => {
        log.info('gateway disconnected', { node: s.nodeId, group: s.group, reason });
        metrics.connectedGateways.set(server.xds?.connectedGateways().length ?? 0);
        reconciler.gatewaysChanged();
      },
      pushed: (s, typeUrl, version) => {
        metrics.pushes.inc({ type: typeLabel(typeUrl) });
        pushedAt.set(`${s.streamId}|${typeUrl}|${baseVersion(version)}`, systemClock.now());
        if (pushedAt.size > 1024) pushedAt.delete(pushedAt.keys().next().value ?? '');
      },
      acked: (s, typeUrl, version) => {
        metrics.acks.inc({ type: typeLabel(typeUrl) });
        const key = `${s.streamId}|${typeUrl}|${baseVersion(version)}`;
        const at = pushedAt.get(key);
        if (at !== undefined) {
          pushedAt.delete(key);
          metrics.pushLatency.observe((systemClock.now() - at) / 1000);
        }
        reconciler.gatewaysChanged();
      },
      nacked: (s, typeUrl, version, message) => {
        metrics.nacks.inc({ type: typeLabel(typeUrl) });
        log.warn('gateway rejected config', { node: s.nodeId, group: s.group, type: typeLabel(typeUrl), version, error: message });
        reconciler.gatewaysChanged();
      },
    },
  }).catch((err: unknown) => {
    throw listenError('--xds-listen', xdsListen, err);
  });
  server.xds = xds;
  log.info('xDS listening', { port: xds.port, tls: flags.xdsTls !== undefined });

  reconciler.start();

  const elector = new LeaderElector({
    client,
    namespace: flags.leaseNamespace,
    name: flags.leaseName,
    identity: flags.identity,
    leaseDurationMs: flags.leaseDurationMs,
    renewDeadlineMs: Math.round(flags.leaseDurationMs * (2 / 3)),
    retryPeriodMs: Math.max(500, Math.round(flags.leaseDurationMs / 7.5)),
    clock: systemClock,
    scheduler: systemScheduler,
    log,
    onStartedLeading: () => reconciler.setLeader(true),
    onStoppedLeading: () => reconciler.setLeader(false),
  });
  elector.start();

  const health = await startHealthServer({
    host: flags.healthListen.host,
    port: flags.healthListen.port,
    registry: metrics.registry,
    ready: () => {
      const pending = reconciler.informers.filter((i) => !i.synced).map((i) => i.name);
      if (pending.length > 0) return { ok: false, detail: `waiting for the first list of ${pending.join(', ')}` };
      if (!reconciler.ready) return { ok: false, detail: 'no config published yet' };
      return { ok: true, detail: `ok (${elector.isLeader ? 'leader' : 'follower'})` };
    },
  }).catch((err: unknown) => {
    throw listenError('--health-listen', `${flags.healthListen.host}:${flags.healthListen.port}`, err);
  });
  log.info('health listening', { port: health.port });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down', { signal });
      void (async () => {
        await elector.stop(); // releases the Lease: another replica takes over at once
        reconciler.stop();
        await xds.close();
        await health.close();
        resolve(0);
      })();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

runBinary('jarvis-operator', () => parseFlags(process.argv.slice(2), process.env, os.hostname(), process.pid), USAGE, main);
