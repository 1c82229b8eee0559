/**
 * Async jobs and the dead-letter queue on a real Redis (REDIS_URL, default the local one; every
 * test in a namespace of its own) and a real upstream: submission through the queue stage (202 and
 * a job URL), a worker loop that runs jobs through the route's gate, retries into the DLQ,
 * idempotency keys, cancellation, the takeover of a stopped worker's jobs, replay, and the admin
 * API's answers to bad input.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BreakerIR, DegradationIR, QueueIR, RouteIR } from '@jarvis/api';
import express from 'express';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualTime, systemClock, systemTimers } from '../../../clock.js';
import { BodyBudget } from '../../../inspect/budget.js';
import { BodyStage } from '../../../inspect/stage.js';
import type { StageContext } from '../../../pipeline/context.js';
import { headerPolicy } from '../../../proxy/headers.js';
import { Exchange, type ExchangeHooks } from '../../../pipeline/exchange.js';
import { endExchange, run } from '../../../pipeline/runner.js';
import { TAKEN, type Stage } from '../../../pipeline/stage.js';
import { GuardedBackend, type Backend } from '../../../proxy/upstreams.js';
import { BackendGuard, NO_EVENTS } from '../../breaker/index.js';
import { DegradationRegistry } from '../../degradation/toggles-registry.js';
import { dlqRouter } from '../dlq/admin.js';
import { JOB_GROUP, jobKey, routeJobKeys } from '../keys.js';
import { QueueRuntime } from '../runtime.js';
import { queueStage } from '../stage.js';
import { JobsEndpointStage } from './endpoint.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
let redis: Redis;
const namespaces: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  for (const ns of namespaces) {
    const keys = [...(await redis.keys(`jarvis:q:{${ns}}:*`)), ...(await redis.keys(`jarvis:dlq:{${ns}}:*`))];
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
}

function queueIR(ns: string, o: Partial<QueueIR> = {}): QueueIR {
  return {
    maxInFlight: 2,
    concurrencyScope: 'Route',
    counter: `${ns}/q`,
    maxQueued: 10,
    priorityClasses: [],
    deadline: { defaultMs: 5_000, maxMs: 10_000, header: 'x-request-deadline-ms' },
    rejectStatus: 503,
    async: {
      trigger: 'Prefer',
      maxAttempts: 3,
      backoff: { initialMs: 20, maxMs: 50 },
      resultTtlMs: 60_000,
      attemptTimeoutMs: 2_000,
      maxBodyBytes: 64,
      maxResultBytes: 1024,
      maxPending: 1000,
    },
    deadLetter: { stream: 'dead', maxLength: 1000, retentionMs: 3_600_000, synchronous: false, maxBodyBytes: 16 },
    source: { kind: 'QueuePolicy', namespace: ns, name: 'q', generation: 1 },
    ...o,
  };
}

interface Upstream {
  port: number;
  /** Requests seen: path, idempotency key, job id and attempt. */
  seen: {
    path: string;
    key: string | undefined;
    job: string | undefined;
    attempt: string | undefined;
    auth: string | undefined;
    features: string | undefined;
  }[];
  /** Status to answer; a function of the request count. */
  status: (n: number) => number;
}

async function upstream(status: (n: number) => number = () => 200): Promise<Upstream> {
  const u: Upstream = { port: 0, seen: [], status };
  u.port = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      u.seen.push({
        path: req.url ?? '',
        key: req.headers['idempotency-key'] as string | undefined,
        job: req.headers['x-jarvis-job-id'] as string | undefined,
        attempt: req.headers['x-jarvis-job-attempt'] as string | undefined,
        auth: req.headers['authorization'] as string | undefined,
        features: req.headers['x-jarvis-features'] as string | undefined,
      });
      const s = u.status(u.seen.length);
      const body = JSON.stringify({ echo: Buffer.concat(chunks).toString('utf8'), tenant: req.headers['x-tenant-id'] ?? null });
      res.writeHead(s, { 'content-type': 'application/json' }).end(body);
    });
  });
  return u;
}

const log = { warn: () => {}, info: () => {} };

/**
 * A gateway for one route: the job URL front stage, the queue stage and a terminal stage that
 * holds synchronous requests until `finish()`; its runtime's worker runs the route's jobs against
 * `up`.
 */
async function gateway(
  up: Upstream,
  o: Partial<QueueIR> = {},
  reclaimIdleMs = 15_000,
  last?: Stage,
  bufferBytes = 1 << 16,
  policies: { breaker?: BreakerIR; degradation?: DegradationIR; triggerTime?: ManualTime } = {},
) {
  const ns = `t${randomBytes(6).toString('hex')}`;
  namespaces.push(ns);
  const ir = queueIR(ns, o);
  const origin = `http://127.0.0.1:${up.port}`;
  const pool = new Pool(origin);
  cleanups.push(() => pool.destroy());
  const backendId = `${ns}/up:80`;
  const guard = new BackendGuard(
    {
      id: backendId,
      service: { namespace: ns, name: 'up', port: 80 },
      endpoints: [],
      policies: [],
      ...(policies.breaker
        ? {
            circuitBreaker: {
              breaker: policies.breaker,
              panicThresholdPercent: 0,
              source: { kind: 'CircuitBreakerPolicy', namespace: ns, name: 'cb', generation: 1 },
            },
          }
        : {}),
    },
    { clock: systemClock, timers: systemTimers, random: () => 0.5, prober: { probe: () => {}, close: async () => {} }, events: NO_EVENTS },
  );
  const backend: Backend = new GuardedBackend(backendId, [{ origin, pool }], guard);
  // The triggers (and the shedding that reads them) on a hand-driven clock when the test gives one.
  const triggerTime = policies.triggerTime;
  const degradation = new DegradationRegistry({
    stopwatch: triggerTime ?? systemClock,
    clock: triggerTime ?? systemClock,
    timers: triggerTime ?? systemTimers,
    tickMs: 50,
  });
  const pendingDegradation = degradation.prepare();
  cleanups.push(() => degradation.close());
  const route: RouteIR = {
    id: `${ns}/r/rule-0`,
    route: { namespace: ns, name: 'r' },
    ruleIndex: 0,
    listeners: ['http'],
    hostnames: [],
    matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
    backends: [{ backend: backend.id, weight: 1 }],
    unresolvedWeight: 0,
    queue: ir,
    ...(policies.degradation ? { degradation: policies.degradation } : {}),
  };
  const rt = new QueueRuntime({
    clock: systemClock,
    timers: systemTimers,
    random: Math.random,
    redis,
    credentialHeaders: new Set(['authorization', 'x-api-key']),
    consumer: `c-${ns}`,
    reclaimIdleMs,
    log,
  });
  cleanups.push(() => rt.close());
  const build = rt.begin();
  const ctx: StageContext = {
    clock: systemClock,
    stopwatch: triggerTime ?? systemClock,
    timers: systemTimers,
    random: Math.random,
    stores: { memory: undefined as never },
    backends: new Map([[backend.id, backend]]),
    call: { headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000, maxBodyBytes: 1 << 20, requestBodyIdleMs: 5_000 },
    body: { bufferBytes, inspectBytes: 1 << 20, timeoutMs: 5_000, budget: new BodyBudget(1 << 24), timers: systemTimers },
    headerPolicy: headerPolicy([]),
    guards: [],
    onDecision: () => {},
    queues: build,
    degradation: pendingDegradation,
  };
  const queue = queueStage.build(route, ctx) as Stage;
  // The buffer stage reads bodies before the queue, as in a gateway's chain.
  const buffer = new BodyStage('buffer', ctx.body);
  build.commit();
  pendingDegradation.commit();
  const held: Exchange[] = [];
  const terminal: Stage = last ?? { name: 'hold', enter: (x) => (held.push(x), TAKEN) };
  const jobs = new JobsEndpointStage({ store: () => rt.jobs, clock: systemClock });
  const hooks: ExchangeHooks = { ended: () => {}, failed: () => {} };
  const port = await listen((req, res) => {
    const x = new Exchange(req, res, [jobs, buffer, queue, terminal], systemClock.now(), hooks);
    x.tenant = req.headers['x-tenant'] as string | undefined;
    run(x);
  });
  const gate = [...rt.gates().values()][0];
  if (!gate) throw new Error('no gate');
  const url = `http://127.0.0.1:${port}`;
  const submit = (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, { method: 'POST', body: 'payload', ...init, headers: { prefer: 'respond-async', ...init.headers } });
  const finish = () => {
    const x = held.shift();
    if (!x) throw new Error('nothing held');
    x.status = 200;
    x.res.writeHead(200).end('ok');
    endExchange(x);
  };
  const triggers = pendingDegradation.runtime(route)?.triggers;
  return { ns, ir, url, rt, gate, held, finish, submit, keys: routeJobKeys(ns, 'q', route.id), route, guard, degradation, triggers };
}

/** What `read` gives once it gives something (vitest polls it every 20 ms, at most `timeoutMs`). */
function until<T>(what: string, read: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  return vi.waitFor(
    async () => {
      const v = await read();
      if (v === undefined || v === false) throw new Error(`timed out waiting for ${what}`);
      return v;
    },
    { timeout: timeoutMs, interval: 20 },
  );
}

async function jobState(url: string, id: string, tenant?: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/_jarvis/jobs/${id}`, tenant ? { headers: { 'x-tenant': tenant } } : {});
  return (await res.json()) as Record<string, unknown>;
}

describe('async jobs', () => {
  it('answers 202 with a job URL; a worker runs the job through the gate; the URL shows the result', async () => {
    const up = await upstream();
    const g = await gateway(up);
    const res = await g.submit('/work', { headers: { 'x-tenant': 'acme', authorization: 'Bearer secret', cookie: 'sid=1' } });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; href: string };
    expect(res.headers.get('location')).toBe(body.href);
    expect(body.href).toBe(`/_jarvis/jobs/${body.id}`);
    const done = await until('the job done', async () => {
      const j = await jobState(g.url, body.id, 'acme');
      return j['state'] === 'done' ? j : undefined;
    });
    expect(done).toMatchObject({ state: 'done', attempts: 1, result: { status: 200, bodyEncoding: 'utf8', truncated: false } });
    expect(JSON.parse((done['result'] as { body: string }).body)).toEqual({ echo: 'payload', tenant: 'acme' });
    // The upstream got the job id as its idempotency key, and none of the client's credentials.
    expect(up.seen).toEqual([{ path: '/work', key: body.id, job: body.id, attempt: '1', auth: undefined }]);
    // Another tenant (or none) cannot see it.
    expect((await fetch(`${g.url}/_jarvis/jobs/${body.id}`)).status).toBe(404);
    expect((await fetch(`${g.url}/_jarvis/jobs/${body.id}`, { headers: { 'x-tenant': 'other' } })).status).toBe(404);
    expect(g.gate.inFlight).toBe(0);
  });

  it('retries a failing job with backoff, then writes it to the DLQ with a redacted, capped copy', async () => {
    const up = await upstream(() => 503);
    const g = await gateway(up);
    const res = await g.submit('/fail', {
      body: 'a body longer than sixteen bytes',
      headers: { authorization: 'Bearer secret', 'x-api-key': 'k', cookie: 'c=1', 'x-custom': 'kept' },
    });
    const { id } = (await res.json()) as { id: string };
    const failed = await until('the job failed', async () => {
      const j = await jobState(g.url, id);
      return j['state'] === 'failed' ? j : undefined;
    });
    expect(failed).toMatchObject({ attempts: 3, error: 'upstream answered 503 after 3 attempts' });
    expect(up.seen.map((s) => s.attempt)).toEqual(['1', '2', '3']);
    expect(new Set(up.seen.map((s) => s.key))).toEqual(new Set([id]));
    const dlq = g.rt.dlqs().get(`${g.ns}/dead`);
    if (!dlq || !g.rt.dlq) throw new Error('no DLQ');
    const page = await g.rt.dlq.list(dlq, {}, 10);
    expect(page.entries).toHaveLength(1);
    const e = page.entries[0];
    expect(e).toMatchObject({ kind: 'job', job: id, reason: 'upstream answered 503 after 3 attempts', attempts: 3, status: 503 });
    expect(e?.headers).toMatchObject({ 'x-custom': 'kept' });
    for (const secret of ['authorization', 'x-api-key', 'cookie']) expect(e?.headers).not.toHaveProperty(secret);
    expect(e?.body.toString()).toBe('a body longer th');
    expect(e).toMatchObject({ bodyBytes: 32, bodyTruncated: true });
    expect(failed['deadLetter']).toBe(e?.id);
  });

  it('an Idempotency-Key returns the job it created before; the upstream gets that key on every attempt', async () => {
    const up = await upstream((n) => (n === 1 ? 500 : 200));
    const g = await gateway(up);
    const a = (await (await g.submit('/idem', { headers: { 'idempotency-key': 'order-42' } })).json()) as { id: string };
    const b = (await (await g.submit('/idem', { headers: { 'idempotency-key': 'order-42' } })).json()) as {
      id: string;
      duplicate?: boolean;
    };
    expect(b).toMatchObject({ id: a.id, duplicate: true });
    await until('done', async () => (await jobState(g.url, a.id))['state'] === 'done');
    expect(up.seen.map((s) => s.key)).toEqual(['order-42', 'order-42']);
    expect((await g.submit('/idem', { headers: { 'idempotency-key': 'bad key with spaces' } })).status).toBe(400);
  });

  it("goes through the backend's circuit breaker: once it opens, attempts wait for it instead of reaching the upstream", async () => {
    const up = await upstream(() => 503);
    const breaker: BreakerIR = {
      failureStatusCodes: [503],
      countTimeouts: true,
      countConnectErrors: true,
      failureRatePercent: 50,
      window: { type: 'Count', size: 2 },
      minimumCalls: 2,
      halfOpen: { maxProbes: 1, successThreshold: 1, probeTimeoutMs: 5_000 },
      openDuration: { baseMs: 60_000, maxMs: 60_000, multiplierPercent: 100, jitterPercent: 0 },
    };
    const g = await gateway(up, { async: { ...queueIR('x').async!, maxAttempts: 5 } }, 15_000, undefined, 1 << 16, { breaker });
    const { id } = (await (await g.submit('/cb')).json()) as { id: string };
    // Two attempts answered 503 open the breaker; the third is refused without a call.
    const refused = await until('an attempt refused by the open breaker', async () => {
      const s = await jobState(g.url, id);
      return typeof s['error'] === 'string' && s['error'].includes('circuit breaker') ? s : undefined;
    });
    expect(g.guard.breaker?.state).toBe('open');
    expect(up.seen.length).toBe(2);
    // The next attempt waits for the breaker (a minute), not the 20–50 ms backoff: it is due in the
    // retry set (written with the refusal, in one script) no sooner than the breaker half-opens, and
    // the job is neither run again nor dead-lettered meanwhile.
    const due = Number(await redis.zscore(g.keys.delayed, id));
    expect(due - systemClock.now()).toBeGreaterThan(30_000);
    expect(up.seen.length).toBe(2);
    const later = await jobState(g.url, id);
    expect(later['attempts']).toBe(refused['attempts']);
    expect(later['state']).not.toBe('failed');
  });

  it("tells the upstream the route's feature toggles on every attempt, never the client's own header", async () => {
    const up = await upstream(() => 200);
    const degradation: DegradationIR = {
      triggers: [],
      featureToggles: [
        { name: 'legacy_ui', enabled: false, disableWhen: [] },
        { name: 'search', enabled: true, disableWhen: [] },
      ],
      shedPriorityClasses: [],
      featureHeader: 'x-jarvis-features',
      source: { kind: 'DegradationPolicy', namespace: 'ns', name: 'dp', generation: 1 },
    };
    const g = await gateway(up, {}, 15_000, undefined, 1 << 16, { degradation });
    const { id } = (await (await g.submit('/features', { headers: { 'x-jarvis-features': 'legacy_ui=on' } })).json()) as { id: string };
    await until('the job done', async () => ((await jobState(g.url, id))['state'] === 'done' ? true : undefined));
    expect(up.seen.map((s) => s.features)).toEqual(['legacy_ui=off, search=on']);
  });

  it('holds back the jobs of a class a DegradationPolicy trigger sheds, without an attempt, and runs them once it deactivates', async () => {
    const up = await upstream(() => 200);
    const degradation: DegradationIR = {
      triggers: [
        { name: 'slow', type: 'LatencyP95', latency: { activateMs: 200, deactivateMs: 100 }, windowMs: 500, minSamples: 1, holdForMs: 500 },
      ],
      featureToggles: [],
      shedPriorityClasses: [{ triggers: ['slow'], classes: ['batch'] }],
      featureHeader: 'x-jarvis-features',
      source: { kind: 'DegradationPolicy', namespace: 'ns', name: 'dp', generation: 1 },
    };
    const classes: Partial<QueueIR> = {
      priorityClasses: [
        { name: 'standard', priority: 50, sharePercent: 0, tenants: [], users: [] },
        { name: 'batch', priority: 10, sharePercent: 0, tenants: [], users: [], header: { name: 'x-priority', values: ['batch'] } },
      ],
      defaultPriorityClass: 'standard',
    };
    const time = new ManualTime(1_000_000);
    const g = await gateway(up, classes, 15_000, undefined, 1 << 16, { degradation, triggerTime: time });
    const active = () => g.degradation.isActive(g.route.id, 'slow');
    g.triggers?.record(time.now(), false, 500);
    time.advance(50); // the registry's next evaluation
    expect(active()).toBe(true);
    const batch = ((await (await g.submit('/batch', { headers: { 'x-priority': 'batch' } })).json()) as { id: string }).id;
    const standard = ((await (await g.submit('/standard')).json()) as { id: string }).id;
    await until('the standard job done', async () => ((await jobState(g.url, standard))['state'] === 'done' ? true : undefined));
    // The worker took the batch job and put it back for later (the retry set), no attempt made.
    await until('the batch job deferred', async () => ((await redis.zscore(g.keys.delayed, batch)) !== null ? true : undefined));
    const held = await jobState(g.url, batch);
    expect(held).toMatchObject({ state: 'pending', attempts: 0 });
    expect(up.seen.map((s) => s.path)).toEqual(['/standard']);
    // Fast calls bring p95 under the exit threshold; after the hold the trigger deactivates and the job runs, once.
    for (let step = 0; step < 100 && active(); step++) {
      g.triggers?.record(time.now(), false, 10);
      time.advance(50);
    }
    expect(active()).toBe(false);
    await until('the batch job done', async () => ((await jobState(g.url, batch))['state'] === 'done' ? true : undefined));
    expect(await jobState(g.url, batch)).toMatchObject({ state: 'done', attempts: 1 });
    expect(up.seen.map((s) => s.path)).toEqual(['/standard', '/batch']);
  });

  it('DELETE cancels a job waiting for a slot: it never reaches the upstream; a finished job cannot be cancelled', async () => {
    const up = await upstream();
    const g = await gateway(up, { maxInFlight: 1 });
    const sync = fetch(`${g.url}/sync`);
    await until('sync request holds the slot', () => g.held.length === 1 || undefined);
    const { id } = (await (await g.submit('/later')).json()) as { id: string };
    await until('the job waits at the gate', () => g.gate.waiting === 1 || undefined);
    const del = await fetch(`${g.url}/_jarvis/jobs/${id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.json()).toMatchObject({ state: 'cancelled' });
    g.finish();
    expect((await sync).status).toBe(200);
    await until('the entry is dropped', async () => (await redis.xlen(g.keys.stream)) === 0 || undefined);
    expect(up.seen).toEqual([]);
    const again = await fetch(`${g.url}/_jarvis/jobs/${id}`, { method: 'DELETE' });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toBe('application/problem+json');
  });

  it('takes over the jobs of a worker that stopped (XAUTOCLAIM) and finishes each once', async () => {
    const up = await upstream();
    const g = await gateway(up, {}, 300);
    await g.rt.close(); // no worker of this gateway reads for now
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(((await (await g.submit(`/j${i}`)).json()) as { id: string }).id);
    // A gateway that read them and died before finishing them.
    await redis.xgroup('CREATE', g.keys.stream, JOB_GROUP, '0', 'MKSTREAM').catch(() => undefined);
    const taken = (await redis.xreadgroup('GROUP', JOB_GROUP, 'dead', 'COUNT', 10, 'STREAMS', g.keys.stream, '>')) as [string, unknown[]][];
    expect(taken[0]?.[1]).toHaveLength(3);
    for (const id of ids) await redis.hset(jobKey(id), 'state', 'running', 'attempts', '1');
    // A new worker takes them over once they have been idle for 300 ms.
    const g2rt = new QueueRuntime({ ...g.rt.deps, consumer: 'alive' });
    cleanups.push(() => g2rt.close());
    const b = g2rt.begin();
    const { gate } = b.gate(g.route, g.ir);
    b.jobRoute(
      {
        routeId: g.route.id,
        policy: `${g.ns}/q`,
        namespace: g.ns,
        label: 'test',
        keys: g.keys,
        ir: g.ir,
        gate,
        classIndex: () => 0,
        pickBackend: () => {
          const origin = `http://127.0.0.1:${up.port}`;
          const pool = new Pool(origin);
          cleanups.push(() => pool.destroy());
          return new GuardedBackend('b', [{ origin, pool }], g.guard);
        },
        dlq: undefined,
      },
      // The classifier is only used by the DLQ replay and the job URL.
      undefined as never,
    );
    b.commit();
    for (const id of ids) await until(`job ${id} done`, async () => (await redis.hget(jobKey(id), 'state')) === 'done' || undefined);
    expect(up.seen.map((s) => s.attempt).sort()).toEqual(['2', '2', '2']);
    const pending = (await redis.xpending(g.keys.stream, JOB_GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
    for (const id of ids) expect(await redis.hget(jobKey(id), 'duplicates')).toBeNull();
  });

  it('reads on a body longer than the gateway buffers (up to the async cap) and stores it whole', async () => {
    const up = await upstream();
    const g = await gateway(up, {}, 15_000, undefined, 16);
    const body = 'a'.repeat(20) + 'b'.repeat(20);
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(body.slice(0, 20)));
        c.enqueue(new TextEncoder().encode(body.slice(20)));
        c.close();
      },
    });
    const res = await g.submit('/long', { body: chunked, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const done = await until('done', async () => {
      const j = await jobState(g.url, id);
      return j['state'] === 'done' ? j : undefined;
    });
    expect(JSON.parse((done['result'] as { body: string }).body)).toMatchObject({ echo: body });
    const tooLong = await g.submit('/long', { body: 'x'.repeat(65) });
    expect(tooLong.status).toBe(413);
  });

  it('answers 413 for an async body over the cap, 400 for a malformed job id, 404 for an unknown one', async () => {
    const up = await upstream();
    const g = await gateway(up);
    const big = await g.submit('/big', { body: 'x'.repeat(65) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ type: expect.stringContaining('body-too-large') });
    for (const bad of [
      'nope',
      `${g.ns}.XYZ`,
      `${g.ns}.${'0'.repeat(31)}`,
      `UPPER.${'0'.repeat(32)}`,
      `${'a'.repeat(70)}.${'0'.repeat(32)}`,
    ]) {
      const r = await fetch(`${g.url}/_jarvis/jobs/${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
    }
    const unknown = await fetch(`${g.url}/_jarvis/jobs/${g.ns}.${'0'.repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect((await fetch(`${g.url}/_jarvis/jobs/${g.ns}.${'0'.repeat(32)}`, { method: 'PUT' })).status).toBe(405);
    expect(up.seen).toEqual([]);
  });
});

describe('synchronous dead letters', () => {
  /** An upstream failure as the proxy stage leaves it: 502, connect error, one attempt. */
  const failing: Stage = {
    name: 'proxy',
    enter: (x) => {
      x.attempts = 1;
      x.status = 502;
      x.error = 'connect';
      x.res.writeHead(502).end('unreachable');
      return 1;
    },
  };

  it('writes a request that failed for good, with its body, once; a later stage can record it with its own reason', async () => {
    const up = await upstream();
    const ir = {
      async: undefined,
      deadLetter: { stream: 'sync', maxLength: 100, retentionMs: 3_600_000, synchronous: true, maxBodyBytes: 1024 },
    };
    const g = await gateway(up, ir, 15_000, failing);
    const res = await fetch(`${g.url}/order`, {
      method: 'POST',
      body: '{"n":1}',
      headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
    });
    expect(res.status).toBe(502);
    const dlq = g.rt.dlqs().get(`${g.ns}/sync`);
    if (!dlq || !g.rt.dlq) throw new Error('no DLQ');
    const store = g.rt.dlq;
    const entries = await until('the entry', async () => {
      const p = await store.list(dlq, {}, 10);
      return p.entries.length > 0 ? p.entries : undefined;
    });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      kind: 'request',
      reason: 'upstream unreachable',
      attempts: 1,
      status: 502,
      method: 'POST',
      path: '/order',
    });
    expect(entries[0]?.body.toString()).toBe('{"n":1}');
    expect(entries[0]?.headers).not.toHaveProperty('x-api-key');

    // The fallback stage's API: it records the failure with its reason; the queue does not write it again.
    const fallback: Stage = {
      name: 'fallback',
      enter: (x) => {
        x.deadLetter?.record('every fallback failed: gpt-4 503, claude-haiku timeout', 503);
        x.deadLetter?.record('twice');
        return failing.enter(x);
      },
    };
    const g2 = await gateway(up, ir, 15_000, fallback);
    // The answer is written by the failing stage inside the exchange, and the exchange's end (the
    // queue's leave, where a second write would come from) runs in the same turn: once the client
    // has the answer, every write is already queued on the store's Redis connection, before the
    // reads below, which Redis answers in order.
    await (await fetch(`${g2.url}/order`, { method: 'POST', body: 'x' })).arrayBuffer();
    const dlq2 = g2.rt.dlqs().get(`${g2.ns}/sync`);
    if (!dlq2) throw new Error('no DLQ');
    const e2 = await until('the entry', async () => {
      const p = await store.list(dlq2, {}, 10);
      return p.entries.length > 0 ? p.entries : undefined;
    });
    expect((await store.list(dlq2, {}, 10)).entries).toHaveLength(1);
    expect(e2[0]).toMatchObject({ reason: 'every fallback failed: gpt-4 503, claude-haiku timeout', status: 503 });
  });
});

describe('dead-letter admin API', () => {
  async function admin(rt: QueueRuntime): Promise<string> {
    const app = express();
    app.use('/admin/dlq', dlqRouter(rt, systemClock));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/dlq`;
  }

  it('lists with filters and paging, shows, replays (the job completes once healed) and purges; bad input is a 4xx problem', async () => {
    let healthy = false;
    const up = await upstream(() => (healthy ? 200 : 500));
    const g = await gateway(up, { async: { ...queueIR('x').async!, maxAttempts: 1, maxBodyBytes: 1024 } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(((await (await g.submit(`/p${i}`, { headers: { 'x-tenant': i < 2 ? 'acme' : 'beta' } })).json()) as { id: string }).id);
    for (const id of ids) await until(`${id} failed`, async () => (await redis.hget(jobKey(id), 'state')) === 'failed' || undefined);
    const base = `${await admin(g.rt)}/${g.ns}/dead`;

    const all = (await (await fetch(`${base}?limit=2`)).json()) as { entries: { id: string; job: string }[]; next?: string };
    expect(all.entries).toHaveLength(2);
    const rest = (await (await fetch(`${base}?limit=10&after=${all.next}`)).json()) as { entries: { id: string }[]; next?: string };
    expect(rest.entries).toHaveLength(3);
    expect(rest.next).toBeUndefined();
    const acme = (await (await fetch(`${base}?tenant=acme`)).json()) as { entries: { job: string }[] };
    expect(acme.entries.map((e) => e.job).sort()).toEqual(ids.slice(0, 2).sort());
    const first = all.entries[0] as { id: string; job: string };
    const shown = (await (await fetch(`${base}/${first.id}`)).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({ id: first.id, kind: 'job', body: 'payload', bodyEncoding: 'utf8' });

    // Purge one; replaying it afterwards is a 404 problem.
    const purged = await fetch(`${base}/${first.id}`, { method: 'DELETE' });
    expect(await purged.json()).toEqual({ purged: 1 });
    const gone = await fetch(`${base}/${first.id}/replay`, { method: 'POST' });
    expect(gone.status).toBe(404);
    expect(gone.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await fetch(`${base}/${first.id}`, { method: 'DELETE' })).status).toBe(404);

    // Heal and replay the rest: each job completes, once, under its old id.
    healthy = true;
    const seenBefore = up.seen.length;
    const r = (await (
      await fetch(`${base}/replay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ filter: {}, limit: 100 }),
      })
    ).json()) as { replayed: { id: string; job: string }[]; missing: string[] };
    expect(r.replayed.map((x) => x.job).sort()).toEqual(ids.filter((id) => id !== first.job).sort());
    for (const { job } of r.replayed)
      await until(`${job} done`, async () => (await redis.hget(jobKey(job), 'state')) === 'done' || undefined);
    expect(up.seen.length - seenBefore).toBe(4);
    expect((await (await fetch(`${base}`)).json()) as { entries: unknown[] }).toEqual({ entries: [] });
    const listing = (await (await fetch(`${await admin(g.rt)}`)).json()) as { streams: { namespace: string; depth: number }[] };
    expect(listing.streams).toEqual([expect.objectContaining({ namespace: g.ns, stream: 'dead', depth: 0 })]);

    // Bad input.
    for (const [path, init, status] of [
      [`${base}/not-an-id`, {}, 400],
      [`${base}?limit=0`, {}, 400],
      [`${base}?since=yesterday`, {}, 400],
      [`${base}?kind=other`, {}, 400],
      [`${base}/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ids": "x"}' }, 400],
      [`${base}/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' }, 400],
      [`${base}/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 400],
      [`${base.replace('/dead', '/other')}`, {}, 404],
      [`${base.replace(g.ns, 'Bad_NS')}`, {}, 400],
    ] as const) {
      const res = await fetch(path, init);
      expect(res.status, path).toBe(status);
      expect(res.headers.get('content-type'), path).toMatch(/^application\/problem\+json/);
    }
    expect(
      await (
        await fetch(`${base}/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"all": true}' })
      ).json(),
    ).toEqual({
      purged: 0,
    });
  });
});
