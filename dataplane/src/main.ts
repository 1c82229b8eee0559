#!/usr/bin/env -S node --no-memory-reducer --min-semi-space-size=32 --max-semi-space-size=32
/**
 * jarvis-gateway: the data plane. Config from the operator over xDS (`--xds`) or from a directory
 * of manifests (`--config`); traffic on plain node:http; admin on a separate express listener.
 *
 * Runs as `node --no-memory-reducer --min-semi-space-size=32 --max-semi-space-size=32` (the
 * shebang; the bench harness reads it from there):
 * - V8's memory reducer collects a gateway that went idle, and with no request in flight the
 *   hidden classes that optimized code embeds die with it — at the next burst 70–180 hot functions
 *   are thrown away ("weak objects") and compiled again, 1.5–2× the CPU per request for seconds. An
 *   idle gateway keeps its heap instead (tens of MB). See also tick-shapes.ts.
 * - A request through node:http and undici allocates about 15 KB of short-lived objects; with
 *   V8's default young generation (semi-spaces of at most 16 MB, often far less) the gateway
 *   scavenges every 300–1,000 requests, each time copying what the requests in flight hold.
 *   Semi-spaces of up to 32 MB halve the scavenges and their time (measured with --trace-gc at
 *   saturation: 2.2–4.9 µs of scavenging per request before, 1.2–1.3 after).
 * - And they stay 32 MB when the gateway goes idle: V8 shrinks the young generation to 1 MB at the
 *   first scavenge after a few seconds of little allocation, and the next burst then scavenges
 *   every 7–10 ms instead of every 250–300 ms, promoting the objects of the requests in flight into
 *   the old generation (5 MB in its first 2 s), while the young generation grows back over seconds
 *   (measured with --trace-gc after 30 s idle). Two 32 MB semi-spaces are held for good instead.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { StartupError, createLogger, listenError, runBinary, startupFileError } from '@jarvis/api';
import { Redis } from 'ioredis';
import { monotonicClock, systemClock, systemTimers } from './clock.js';
import { ConfigError, FileSource } from './config/files.js';
import { loadState, saveState } from './config/state.js';
import type { GatewayConfig } from './config/types.js';
import { XdsSource } from './config/xds.js';
import { USAGE, parseGatewayFlags, type GatewayFlags } from './flags.js';
import { IdentityHolder, JwksRegistry, anonymousIdentity, httpJwksFetch, loadIdentityFile } from './identify/index.js';
import { startAdmin } from './observe/admin.js';
import { backendEvents } from './observe/backend-events.js';
import { redactSecrets } from './observe/redact.js';
import { describeLevel } from './observe/limits.js';
import { LimitsReport } from './observe/limits-report.js';
import { cacheOutcomeCounter, createGatewayMetrics, redisRoundTripObserver, xdsObserver } from './observe/metrics.js';
import { compileGatewaySliced, type CompiledGateway, type PendingGateway } from './pipeline/compile.js';
import { registerQueueMetrics } from './observe/queue-metrics.js';
import { QueueRuntime } from './policy/queue/index.js';
import { dlqRouter } from './policy/queue/dlq/admin.js';
import { JobsEndpointStage } from './policy/queue/jobs/endpoint.js';
import { createHandler } from './pipeline/handler.js';
import { enforcedFeatures } from './pipeline/stages.js';
import { BackendGuardRegistry, createProber } from './policy/breaker/index.js';
import { CacheRegistry, RedisLevel, subscribeInvalidations, type Subscription } from './policy/cache/index.js';
import { HotspotRegistry } from './policy/hotspot/index.js';
import { DegradationRegistry, featuresView } from './policy/degradation/toggles-registry.js';
import { ProcessProbe } from './policy/degradation/system-probe.js';
import { SystemSignals } from './policy/degradation/triggers/index.js';
import { createMemoryStore, createRedisStore, redisStoreTotals, type ActiveMode, type LimitStores } from './policy/ratelimit/index.js';
import { BodyBudget } from './inspect/budget.js';
import { Upstreams } from './proxy/upstreams.js';
import { pinTickShapes } from './tick-shapes.js';

/** Redis key prefix (and channel prefix) of the response cache. */
const CACHE_PREFIX = 'jarvis:cache:';
/** How long a starting gateway's readiness waits for its first Redis connection. */
const REDIS_STARTUP_GRACE_MS = 5000;

async function main(flags: GatewayFlags): Promise<number> {
  pinTickShapes();
  const log = createLogger({ level: flags.logLevel, base: { component: 'jarvis-gateway', node: flags.nodeId }, now: systemClock.now });
  const clock = systemClock;
  const timers = systemTimers;

  let redis: Redis | undefined;
  /** Whether Redis has been reachable once since start (readiness waits a little for the first connection). */
  let redisSeen = false;
  const startedAt = monotonicClock.now();
  if (flags.redis) {
    redis = new Redis(flags.redis, {
      enableOfflineQueue: false,
      // No ioredis commandTimeout: the store times every check out itself (--redis-timeout at
      // most, less when the policy says so), and a second timer per request would never fire first.
      maxRetriesPerRequest: 0,
      lazyConnect: false,
      retryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
      // No auto-pipelining: the store already sends the checks of one event-loop turn as one
      // EVALSHA (redis-store.ts), so there is one command per turn to send, and ioredis's
      // pipeline around it would only add work.
      enableAutoPipelining: false,
    });
    redis.on('error', (err: Error) => log.debug('redis error', { error: redactSecrets(err.message, flags.redis) }));
    redis.on('ready', () => {
      redisSeen = true;
      log.info('redis ready');
    });
  }
  const hotspots = new HotspotRegistry();
  // Triggers and feature toggles: kept across config reloads while a route's policy is unchanged.
  const systemProbe = new ProcessProbe();
  const degradation = new DegradationRegistry({
    stopwatch: monotonicClock,
    clock,
    timers,
    system: new SystemSignals(systemProbe, monotonicClock, timers),
    events: {
      triggerChanged: (route, t) => {
        metrics.triggerTransitions.inc({ route, trigger: t.trigger, to: t.active ? 'active' : 'inactive' });
        log.info(t.active ? 'degradation trigger active' : 'degradation trigger inactive', {
          route,
          trigger: t.trigger,
          type: t.type,
          ...(t.value !== undefined ? { value: Math.round(t.value * 100) / 100 } : {}),
        });
      },
      toggleChanged: (route, t) => {
        metrics.featureTransitions.inc({ route, feature: t.feature, to: t.enabled ? 'on' : 'off' });
        log.info(t.enabled ? 'feature on' : 'feature off', { route, feature: t.feature, ...(t.trigger ? { trigger: t.trigger } : {}) });
      },
    },
  });
  const cacheLevel = redis ? new RedisLevel({ redis, prefix: CACHE_PREFIX, timeoutMs: flags.redisTimeoutMs, timers }) : undefined;
  // Scraped only after `guards` and `caches` below exist.
  const metrics = createGatewayMetrics({
    hotKeys: () => hotspots.topK(),
    redisTotals: redisStoreTotals,
    backends: () => guards.view(),
    caches: () => ({ policies: caches.stats(), l2: cacheLevel?.stats, remote: caches.remote }),
    degradation: () => degradation.view(),
  });
  // Breakers, retry budgets, endpoint health and ejections: kept across config reloads.
  const prober = createProber({ timers });
  const guards = new BackendGuardRegistry({
    clock: monotonicClock,
    timers,
    random: Math.random,
    prober,
    events: backendEvents(metrics, log),
  });
  const caches = new CacheRegistry({
    clock,
    timers,
    prefix: CACHE_PREFIX,
    outcomes: cacheOutcomeCounter(metrics),
    ...(cacheLevel ? { l2: cacheLevel } : {}),
  });
  let invalidations: Subscription | undefined;
  if (redis) {
    invalidations = subscribeInvalidations(redis, caches.channel, caches.instance, {
      onMessage: (m) => caches.applyRemote(m),
      onResubscribed: () => {
        log.warn('cache invalidation channel was interrupted: every L1 entry dropped');
        caches.dropAllL1();
      },
      onError: (err) => log.debug('redis subscriber error', { error: err.message }),
    });
  }
  const stores: LimitStores = {
    memory: createMemoryStore({ clock, maxKeys: flags.maxLimiterKeys }),
    ...(redis
      ? {
          redis: createRedisStore({
            redis,
            prefix: 'jarvis:rl:',
            timeoutMs: flags.redisTimeoutMs,
            maxBatch: flags.redisMaxBatch,
            clock,
            onRoundTrip: redisRoundTripObserver(metrics),
          }),
        }
      : {}),
  };
  // The identity of a config (its Gateway's ClientIdentityPolicy) wins; the --identity file is
  // the fallback for a Gateway without one, and for standalone mode.
  const startupError = (err: unknown) =>
    new StartupError(`--identity: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  const fallbackIdentity = flags.identity
    ? await loadIdentityFile(flags.identity).catch((err: unknown) => {
        throw startupError(err);
      })
    : anonymousIdentity;
  const identity = new IdentityHolder(fallbackIdentity, flags.identity ? `--identity ${flags.identity}` : 'anonymous', {
    clock,
    stopwatch: monotonicClock,
    timers,
    log,
    jwks: new JwksRegistry({ fetch: httpJwksFetch(timers), timers, stopwatch: monotonicClock, log }),
  });
  // A gateway does not start without the keys its file names; built now, it serves every config
  // that brings no identity of its own.
  try {
    identity.prepare(undefined).commit();
  } catch (err) {
    throw startupError(err);
  }
  process.on('SIGHUP', () => void identity.reload());
  // The credential headers of the identity in force, refreshed whenever a config is committed.
  const credentialHeaders = new Set<string>();
  const refreshCredentialHeaders = (): void => {
    credentialHeaders.clear();
    for (const h of identity.current?.identifier.credentialHeaders ?? ['authorization']) credentialHeaders.add(h);
  };
  refreshCredentialHeaders();
  const queueRef: { runtime?: QueueRuntime } = {};
  const queueMetrics = registerQueueMetrics(metrics.registry, () => queueRef.runtime, clock);
  const queues = new QueueRuntime({
    clock,
    timers,
    random: Math.random,
    redis,
    // Each worker's blocking reads get a connection of their own that waits for Redis when it is away.
    ...(redis
      ? {
          blockingRedis: () =>
            redis
              .duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null })
              .on('error', (err: Error) => log.debug('redis error', { error: err.message })),
        }
      : {}),
    // Never stored in a job or dead-letter copy: the credential headers of the identity in force.
    credentialHeaders,
    consumer: `${flags.nodeId}-${process.pid}`,
    reclaimIdleMs: flags.jobReclaimAfterMs,
    log,
    observe: (label, classes) => queueMetrics.observe(label, classes),
    onJob: (label, outcome) => queueMetrics.job(label, outcome),
    onDeadLetter: (dlq, ok) => queueMetrics.deadLettered(dlq.namespace, dlq.stream, ok),
  });
  queueRef.runtime = queues;
  const features = enforcedFeatures({ redis: redis !== undefined });
  const upstreams = new Upstreams({
    connectionsPerEndpoint: flags.connectionsPerEndpoint,
    connectTimeoutMs: 5000,
    keepAliveTimeoutMs: 30_000,
  });

  let current: CompiledGateway | undefined;
  const callOptions = {
    maxBodyBytes: flags.maxBodyBytes,
    headersTimeoutMs: flags.headersTimeoutMs,
    bodyTimeoutMs: flags.bodyTimeoutMs,
    requestBodyIdleMs: flags.requestBodyTimeoutMs,
  };
  const bodyBudget = new BodyBudget(flags.maxBufferedBytes);
  const body = {
    bufferBytes: Math.min(flags.requestBufferBytes, flags.maxBodyBytes),
    inspectBytes: Math.min(flags.inspectBodyBytes, flags.maxBodyBytes),
    timeoutMs: flags.requestBodyTimeoutMs,
    budget: bodyBudget,
    timers,
  };
  // A config is compiled in slices of at most 5 ms, traffic served between them; one at a time
  // (both config sources wait for each apply before the next).
  const slicing = { stopwatch: monotonicClock, sliceMs: 5, pause: () => new Promise<void>((resolve) => setImmediate(resolve)) };
  const limits = new LimitsReport({ log, gauge: metrics.failureMode, stores, redisConfigured: redis !== undefined });
  const apply = async (config: GatewayConfig): Promise<{ ok: true } | { ok: false; error: string }> => {
    let pending: PendingGateway;
    try {
      pending = await compileGatewaySliced(
        config,
        {
          clock,
          stopwatch: monotonicClock,
          timers,
          random: Math.random,
          upstreams,
          stores,
          hotspots,
          backendGuards: guards,
          queues,
          degradation,
          enforced: features,
          caches,
          fallbackCells: (route, step, result) => metrics.fallbackSteps.cell(route, step, result),
          call: callOptions,
          body,
          identity,
          onModeChange: (route, mode, previous) => limits.modeChanged(route, mode as ActiveMode, previous as ActiveMode),
          onLlmSettled: (route, settled) => {
            if (settled.outcome === 'missing') metrics.llmUsageMissing.cell(route.id).inc();
            if (settled.outcome === 'failed') metrics.llmSettleFailures.cell(route.id).inc();
            if (settled.charged > 0) metrics.llmTokensReconciled.cell(route.id, 'charged').inc(settled.charged);
            if (settled.refunded > 0) metrics.llmTokensReconciled.cell(route.id, 'refunded').inc(settled.refunded);
          },
          onDecision: (_route, d) => {
            for (const l of d.levels)
              metrics.limitDecisions.cell(l.policy, l.name, l.allowed ? 'allowed' : l.shadow ? 'shadow_rejected' : 'rejected').inc();
          },
        },
        slicing,
      );
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      metrics.configUpdates.inc({ source: config.source, result: 'rejected' });
      log.warn('config rejected', { source: config.source, error });
      return { ok: false, error };
    }
    // In force from here on: one assignment, then the pools and guards of the old config go.
    const identityBefore = current?.identitySource;
    const identityChanged = current?.identifier !== pending.compiled.identifier;
    current = pending.compiled;
    pending.commit();
    limits.applied(config.gateway);
    if (identityChanged) refreshCredentialHeaders();
    if (identityChanged)
      log.info(identityBefore === undefined ? 'identity in force' : 'identity changed', {
        source: current.identitySource,
        ...(identityBefore !== undefined && identityBefore !== current.identitySource ? { previous: identityBefore } : {}),
      });
    metrics.configVersion.reset();
    metrics.configVersion.set({ source: config.source, version: config.version }, 1);
    metrics.configUpdates.inc({ source: config.source, result: 'applied' });
    log.info('config applied', {
      source: config.source,
      version: config.version,
      routes: config.gateway.routes.length,
      backends: config.backends.length,
    });
    metrics.unenforced.reset();
    for (const [feature, where] of current.unenforced) {
      metrics.unenforced.set({ feature }, where.length);
      log.warn('config asks for what this gateway does not enforce', {
        feature,
        count: where.length,
        where: where.slice(0, 5).join(', ') + (where.length > 5 ? ', …' : ''),
      });
    }
    for (const route of config.gateway.routes) {
      const rl = route.rateLimit;
      if (rl?.store === 'Redis' && rl.failureMode.timeoutMs > flags.redisTimeoutMs)
        log.warn('policy timeout capped by --redis-timeout', {
          route: route.id,
          policies: rl.policies.map((p) => `${p.namespace}/${p.name}`).join(','),
          timeoutMs: rl.failureMode.timeoutMs,
          capMs: flags.redisTimeoutMs,
        });
    }
    return { ok: true };
  };

  let stopSource: () => Promise<void> = async () => {};
  let xdsConnected = false;
  if (flags.mode.kind === 'files') {
    const files = new FileSource(flags.mode.dir, flags.gateway, apply, timers, {
      applied: () => {},
      rejected: (error) => {
        metrics.configUpdates.inc({ source: 'file', result: 'rejected' });
        log.warn('config change ignored', { dir: flags.mode.kind === 'files' ? flags.mode.dir : '', error });
      },
      retained: ({ kind, namespace, name, reason }) => {
        metrics.configUpdates.inc({ source: 'file', result: 'rejected' });
        log.warn('change rejected; the previous version keeps serving', { kind, namespace, name, reason });
      },
      notice: (level, message, fields) => log[level](message, fields),
    });
    await files.start().catch((err: unknown) => {
      throw err instanceof ConfigError ? new StartupError(err.message, { cause: err }) : err;
    });
    stopSource = async () => files.stop();
  } else {
    const persisted = flags.stateDir
      ? await loadState(flags.stateDir).catch((err: unknown) => (log.warn('state unreadable', { error: String(err) }), undefined))
      : undefined;
    if (persisted) {
      const r = await apply(persisted.config);
      if (r.ok) log.info('started from the persisted config', { version: persisted.config.version });
    }
    const xdsMetrics = xdsObserver(metrics, flags.mode.target);
    const tls = flags.xdsTls;
    const readPem = (flag: string, file: string): Buffer => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw startupFileError(flag, file, err);
      }
    };
    const source = new XdsSource({
      target: flags.mode.target,
      group: flags.gateway ?? '',
      nodeId: flags.nodeId,
      features,
      ...(tls
        ? {
            tls: {
              ca: readPem('--xds-tls-ca', tls.caFile),
              ...(tls.certFile && tls.keyFile
                ? { cert: readPem('--xds-tls-cert', tls.certFile), key: readPem('--xds-tls-key', tls.keyFile) }
                : {}),
            },
          }
        : {}),
      ...(persisted && current ? { initialVersions: persisted.versions, initial: current.config } : {}),
      apply,
      onApplied: (config, versions) => {
        if (flags.stateDir)
          void saveState(flags.stateDir, config, versions).catch((err: unknown) =>
            log.warn('could not persist config', { error: String(err) }),
          );
      },
      onRejected: (typeUrl, error) => {
        xdsMetrics.rejected(typeUrl);
        log.warn('xDS response rejected', { type: typeUrl, error });
      },
      onConnection: (connected) => {
        xdsConnected = connected;
        xdsMetrics.connected(connected);
      },
      hasConfig: () => current !== undefined,
      clock,
      timers,
      log,
    });
    source.start();
    stopSource = () => source.close();
  }

  const jobsEndpoint = new JobsEndpointStage({ store: () => queues.jobs, clock });
  const handler = createHandler({ stopwatch: monotonicClock, metrics, current: () => current, extraFront: [jobsEndpoint] });
  const server = http.createServer(
    { maxHeaderSize: 16 * 1024, requestTimeout: 300_000, headersTimeout: 30_000, keepAliveTimeout: 65_000 },
    handler,
  );
  // Expect: 100-continue is answered when a stage wants the body (after the limits): a refused
  // request never asks the client to send it.
  server.on('checkContinue', handler);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({
      type: 'https://stability.jarvis.io/problems/bad-request',
      title: status === 431 ? 'Request headers too large' : 'Bad request',
      status,
    });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError('--listen', `${flags.listen.host}:${flags.listen.port}`, err)));
    server.listen(flags.listen.port, flags.listen.host, () => resolve());
  });
  const address = server.address();
  log.info('traffic listening', { port: typeof address === 'object' && address ? address.port : flags.listen.port });

  const admin = await startAdmin(flags.adminListen.host, flags.adminListen.port, {
    registry: metrics.registry,
    ready: () => {
      if (!current)
        return {
          ok: false,
          detail:
            flags.mode.kind === 'xds'
              ? `no config loaded: waiting for Gateway ${flags.gateway ?? ''} from the operator at ${flags.mode.target} (xDS ${xdsConnected ? 'connected' : 'not connected'})`
              : 'no config loaded',
        };
      // Ready whenever a config is loaded: a route whose limits fail closed without Redis answers
      // 503 itself, and every other route serves — taking the replica out of its Services would
      // stop those too. Only a fresh process waits up to REDIS_STARTUP_GRACE_MS for its first
      // connection, so that it does not take traffic in the moment before Redis answers.
      if (redis && !redisSeen && monotonicClock.now() - startedAt < REDIS_STARTUP_GRACE_MS)
        return { ok: false, detail: `waiting for the first connection to Redis (at most ${REDIS_STARTUP_GRACE_MS / 1000} s after start)` };
      const redisNote = redis ? `, Redis ${redis.status === 'ready' ? 'ready' : 'unreachable (failure modes apply)'}` : '';
      return {
        ok: true,
        detail: `ok (config ${current.config.source} ${current.config.version}${flags.mode.kind === 'xds' ? `, xDS ${xdsConnected ? 'connected' : 'disconnected'}` : ''}${redisNote})`,
      };
    },
    hotkeys: () => hotspots.topK(),
    backends: () => ({ backends: guards.view() }),
    caches,
    features: () => ({ routes: degradation.view().map(featuresView) }),
    config: () =>
      current
        ? {
            source: current.config.source,
            version: current.config.version,
            gateway: current.config.gateway.id,
            routes: current.config.gateway.routes.map((r) => r.id),
            identity: current.identitySource,
            enforces: features,
            unenforced: Object.fromEntries(current.unenforced),
            // Per route: its limiter's mode and, per level, the limit that mode enforces.
            rateLimits: limits.views().map((v) => ({ ...v, summary: v.levels.map(describeLevel) })),
          }
        : null,
    routers: { '/admin/dlq': dlqRouter(queues, clock) },
  }).catch((err: unknown) => {
    throw listenError('--admin-listen', `${flags.adminListen.host}:${flags.adminListen.port}`, err);
  });
  log.info('admin listening', { port: admin.port });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('draining', { signal, timeoutMs: flags.drainTimeoutMs });
      server.close();
      // Keep-alive sockets become idle as their last request ends: close them as that happens.
      let closed = false;
      const sweep = () => {
        server.closeIdleConnections();
        if (!closed) timers.after(100, sweep);
      };
      sweep();
      server.once('close', () => (closed = true));
      const deadline = timers.after(flags.drainTimeoutMs, () => {
        log.warn('drain deadline reached; closing remaining connections');
        server.closeAllConnections();
      });
      server.once('close', () => {
        deadline.cancel();
        void (async () => {
          await stopSource();
          await queues.close(flags.drainTimeoutMs);
          identity.close();
          await admin.close();
          guards.close();
          degradation.close();
          systemProbe.close();
          await prober.close();
          await upstreams.close();
          invalidations?.close();
          redis?.disconnect();
          resolve(0);
        })();
      });
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

runBinary('jarvis-gateway', () => parseGatewayFlags(process.argv.slice(2), process.env, os.hostname(), process.pid), USAGE, main);
