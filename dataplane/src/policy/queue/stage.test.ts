/**
 * The queue stage on a real node:http server (real requests, real disconnects) with an injected
 * clock: a terminal stage holds each admitted request until the test lets it go, standing in for
 * a slow upstream. Also: the runtime keeps a gate across config builds when its settings are
 * unchanged (waiting requests and in-flight counts survive a reload).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DegradationIR, QueueIR, RouteIR } from '@jarvis/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualTime } from '../../clock.js';
import { BodyBudget } from '../../inspect/budget.js';
import type { StageContext } from '../../pipeline/context.js';
import { DegradationRegistry, type PendingDegradation } from '../degradation/toggles-registry.js';
import { headerPolicy } from '../../proxy/headers.js';
import { Exchange, type ExchangeHooks } from '../../pipeline/exchange.js';
import { endExchange, run } from '../../pipeline/runner.js';
import { TAKEN, type Stage } from '../../pipeline/stage.js';
import { QueueRuntime } from './runtime.js';
import { queueStage } from './stage.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

function queueIR(o: Partial<QueueIR> = {}): QueueIR {
  return {
    maxInFlight: 1,
    concurrencyScope: 'Route',
    counter: 'ns/q',
    maxQueued: 10,
    priorityClasses: [
      { name: 'vip', priority: 100, sharePercent: 0, tenants: ['acme'], users: [] },
      { name: 'standard', priority: 50, sharePercent: 0, tenants: [], users: [] },
      { name: 'batch', priority: 10, sharePercent: 0, tenants: [], users: [], header: { name: 'x-priority', values: ['batch'] } },
    ],
    defaultPriorityClass: 'standard',
    deadline: { defaultMs: 5_000, maxMs: 10_000, header: 'x-request-deadline-ms' },
    rejectStatus: 503,
    source: { kind: 'QueuePolicy', namespace: 'ns', name: 'q', generation: 1 },
    ...o,
  };
}

function route(queue: QueueIR): RouteIR {
  return {
    id: 'ns/r/rule-0',
    route: { namespace: 'ns', name: 'r' },
    ruleIndex: 0,
    listeners: ['http'],
    hostnames: [],
    matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
    backends: [],
    unresolvedWeight: 0,
    queue,
  };
}

const log = { warn: () => {}, info: () => {} };

function runtime(time: ManualTime): QueueRuntime {
  return new QueueRuntime({
    clock: time,
    timers: time,
    random: () => 0.5,
    redis: undefined,
    credentialHeaders: new Set(),
    consumer: 'test',
    reclaimIdleMs: 15_000,
    log,
  });
}

function context(time: ManualTime, queues: ReturnType<QueueRuntime['begin']>, degradation?: PendingDegradation): StageContext {
  return {
    ...(degradation ? { degradation } : {}),
    clock: time,
    stopwatch: time,
    timers: time,
    random: () => 0.5,
    stores: { memory: undefined as never },
    backends: new Map(),
    call: { headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, maxBodyBytes: 1024, requestBodyIdleMs: 60_000 },
    body: { bufferBytes: 1024, inspectBytes: 1024, timeoutMs: 60_000, budget: new BodyBudget(1 << 20), timers: time },
    headerPolicy: headerPolicy([]),
    guards: [],
    onDecision: () => {},
    queues,
  };
}

interface Outcome {
  status: number;
  error: string | undefined;
  path: string;
}

/**
 * A gateway whose route chain is the queue stage and a terminal stage that holds requests. With
 * `degradation`, the route has that DegradationIR (its triggers in a registry on the same clock,
 * evaluated every 100 ms); with `other`, requests to /other/… go to a second route of the same
 * (Backend-scoped) queue without it.
 */
async function gateway(ir: QueueIR, opts: { degradation?: DegradationIR; other?: boolean } = {}) {
  const time = new ManualTime(1_000_000);
  const rt = runtime(time);
  const build = rt.begin();
  const registry = new DegradationRegistry({ stopwatch: time, clock: time, timers: time, tickMs: 100 });
  const pending = registry.prepare();
  const main = { ...route(ir), ...(opts.degradation ? { degradation: opts.degradation } : {}) };
  const queue = queueStage.build(main, context(time, build, pending)) as Stage;
  const other = opts.other
    ? (queueStage.build(
        { ...route(ir), id: 'ns/other/rule-0', route: { namespace: 'ns', name: 'other' } },
        context(time, build, pending),
      ) as Stage)
    : undefined;
  build.commit();
  pending.commit();
  const triggers = pending.runtime(main)?.triggers;
  const held: Exchange[] = [];
  const arrived: string[] = [];
  const terminal: Stage = {
    name: 'hold',
    enter: (x) => {
      arrived.push(x.path);
      held.push(x);
      return TAKEN;
    },
  };
  const ended: Outcome[] = [];
  const hooks: ExchangeHooks = { ended: (x) => ended.push({ status: x.status, error: x.error, path: x.path }), failed: () => {} };
  const server = http.createServer((req, res) => {
    const x = new Exchange(req, res, [other && req.url?.startsWith('/other/') ? other : queue, terminal], time.now(), hooks);
    // The identify stage's work, from test headers.
    x.tenant = req.headers['x-tenant'] as string | undefined;
    run(x);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const gate = [...rt.gates().values()][0];
  if (!gate) throw new Error('no gate');
  /** Lets the oldest held request answer 200. */
  const finish = () => {
    const x = held.shift();
    if (!x) throw new Error('nothing held');
    x.status = 200;
    x.upstreamStart = 1;
    x.upstreamEnd = 11;
    x.res.writeHead(200).end('ok');
    endExchange(x);
  };
  return { url, time, gate, held, arrived, ended, finish, rt, registry, triggers };
}

/** Until `cond` holds (vitest polls it every 5 ms, at most 2 s). */
async function until(what: string, cond: () => boolean): Promise<void> {
  await vi.waitFor(
    () => {
      if (!cond()) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: 2_000, interval: 5 },
  );
}

describe('queue stage', () => {
  it('admits by priority class as slots are released, and answers 400 for an unknown class or a bad deadline', async () => {
    const g = await gateway(queueIR());
    const first = fetch(`${g.url}/first`);
    await until('first held', () => g.held.length === 1);
    const std = fetch(`${g.url}/std`);
    await until('std waiting', () => g.gate.waiting === 1);
    const batch = fetch(`${g.url}/batch`, { headers: { 'x-priority': 'batch' } });
    await until('batch waiting', () => g.gate.waiting === 2);
    const vip = fetch(`${g.url}/vip`, { headers: { 'x-tenant': 'acme' } });
    await until('vip waiting', () => g.gate.waiting === 3);
    for (let i = 0; i < 4; i++) {
      await until(`request ${i} held`, () => g.held.length === 1);
      g.finish();
    }
    expect((await Promise.all([first, std, batch, vip])).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(g.arrived).toEqual(['/first', '/vip', '/std', '/batch']);
    expect(g.gate.inFlight).toBe(0);

    const unknown = await fetch(`${g.url}/x`, { headers: { 'x-priority': 'platinum' } });
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('content-type')).toBe('application/problem+json');
    expect(await unknown.json()).toMatchObject({ type: expect.stringContaining('unknown-priority-class') });
    const bad = await fetch(`${g.url}/x`, { headers: { 'x-request-deadline-ms': '-5' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ type: expect.stringContaining('invalid-deadline') });
    expect(g.arrived).toHaveLength(4);
  });

  it('answers 503 with Retry-After the moment a waiting request’s deadline passes; it never reaches the upstream', async () => {
    const g = await gateway(queueIR());
    const first = fetch(`${g.url}/first`);
    await until('first held', () => g.held.length === 1);
    const late = fetch(`${g.url}/late`, { headers: { 'x-request-deadline-ms': '300' } });
    await until('late waiting', () => g.gate.waiting === 1);
    g.time.advance(299);
    // A deadline timer fires inside advance(), and refusing takes the ticket out at once.
    expect(g.gate.waiting).toBe(1);
    expect(g.ended).toHaveLength(0);
    g.time.advance(1);
    const res = await late;
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toMatchObject({ type: expect.stringContaining('deadline-exceeded') });
    g.finish();
    expect((await first).status).toBe(200);
    expect(g.arrived).toEqual(['/first']);
  });

  it('a client that disconnects while waiting leaves the queue at once; its slot is never taken', async () => {
    const g = await gateway(queueIR());
    const first = fetch(`${g.url}/first`);
    await until('first held', () => g.held.length === 1);
    const abort = new AbortController();
    const gone = fetch(`${g.url}/gone`, { signal: abort.signal }).catch(() => 'aborted');
    await until('gone waiting', () => g.gate.waiting === 1);
    const next = fetch(`${g.url}/next`);
    await until('next waiting', () => g.gate.waiting === 2);
    abort.abort();
    expect(await gone).toBe('aborted');
    await until('gone left the queue', () => g.gate.waiting === 1);
    expect(g.ended).toContainEqual({ status: 499, error: 'client-gone', path: '/gone' });
    expect(g.gate.counters.cancelled).toBe(1);
    g.finish();
    await until('next held', () => g.held.length === 1);
    g.finish();
    expect((await first).status).toBe(200);
    expect((await next).status).toBe(200);
    expect(g.arrived).toEqual(['/first', '/next']);
    expect(g.gate.inFlight).toBe(0);
  });

  it('rejects with the policy’s status when the queue is full, shedding the lowest class first', async () => {
    const g = await gateway(queueIR({ maxQueued: 1, rejectStatus: 429 }));
    const first = fetch(`${g.url}/first`);
    await until('first held', () => g.held.length === 1);
    const batch = fetch(`${g.url}/batch`, { headers: { 'x-priority': 'batch' } });
    await until('batch waiting', () => g.gate.waiting === 1);
    const std = fetch(`${g.url}/std`);
    const shed = await batch;
    expect(shed.status).toBe(429);
    expect(await shed.json()).toMatchObject({ type: expect.stringContaining('queue-shed') });
    const full = await fetch(`${g.url}/std2`);
    expect(full.status).toBe(429);
    expect(await full.json()).toMatchObject({ type: expect.stringContaining('queue-full') });
    g.finish();
    await until('std held', () => g.held.length === 1);
    g.finish();
    expect([(await first).status, (await std).status]).toEqual([200, 200]);
  });
});

/** The route's DegradationPolicy: a p95 latency trigger (3 calls, 1 s window, 2 s hold) shedding batch. */
function shedPolicy(over: Partial<DegradationIR> = {}): DegradationIR {
  return {
    triggers: [
      {
        name: 'slow',
        type: 'LatencyP95',
        latency: { activateMs: 200, deactivateMs: 100 },
        windowMs: 1_000,
        minSamples: 3,
        holdForMs: 2_000,
      },
    ],
    featureToggles: [],
    shedPriorityClasses: [{ triggers: ['slow'], classes: ['batch'] }],
    featureHeader: 'x-jarvis-features',
    source: { kind: 'DegradationPolicy', namespace: 'ns', name: 'dp', generation: 1 },
    ...over,
  };
}

type Shed = Awaited<ReturnType<typeof gateway>>;

/** Slow calls, then the registry's next evaluation: the trigger is active. */
function activate(g: Shed): void {
  for (let i = 0; i < 3; i++) g.triggers?.record(g.time.now(), false, 500);
  g.time.advance(100);
  expect(g.registry.isActive('ns/r/rule-0', 'slow')).toBe(true);
}

/** Fast calls until the trigger deactivated (the slow ones age out of the window, then the hold). */
function calm(g: Shed): number {
  const from = g.time.now();
  while (g.registry.isActive('ns/r/rule-0', 'slow')) {
    g.triggers?.record(g.time.now(), false, 10);
    g.time.advance(50);
    if (g.time.now() - from > 10_000) throw new Error('the trigger did not deactivate');
  }
  return g.time.now() - from;
}

describe('queue stage: DegradationPolicy shedPriorityClasses', () => {
  it('refuses the shed class at once while the trigger is active (never upstream), serves the other classes, and admits it again after the hold', async () => {
    const g = await gateway(queueIR({ maxInFlight: 4 }), { degradation: shedPolicy() });
    const before = fetch(`${g.url}/b0`, { headers: { 'x-priority': 'batch' } });
    await until('b0 held', () => g.held.length === 1);
    g.finish();
    expect((await before).status).toBe(200);

    activate(g);
    const shed = await fetch(`${g.url}/b1`, { headers: { 'x-priority': 'batch' } });
    expect(shed.status).toBe(503);
    expect(shed.headers.get('content-type')).toBe('application/problem+json');
    // The trigger stays active at least its 2 s hold.
    expect(shed.headers.get('retry-after')).toBe('2');
    const problem = (await shed.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({
      type: expect.stringContaining('queue-shed'),
      status: 503,
      priorityClass: 'batch',
      trigger: 'slow',
      queue: 'ns/q route=ns/r/rule-0',
    });
    expect(problem.detail).toContain('Trigger slow of DegradationPolicy ns/dp is active');
    expect(g.arrived).toEqual(['/b0']);
    expect(g.gate.counters.shed).toBe(1);
    expect(g.gate.inFlight).toBe(0);

    // Higher classes are unaffected.
    const std = fetch(`${g.url}/std`);
    const vip = fetch(`${g.url}/vip`, { headers: { 'x-tenant': 'acme' } });
    await until('std and vip held', () => g.held.length === 2);
    g.finish();
    g.finish();
    expect([(await std).status, (await vip).status]).toEqual([200, 200]);

    // Deactivates only after the slow calls left the 1 s window and the calm held 2 s.
    expect(calm(g)).toBeGreaterThanOrEqual(2_000);
    const again = fetch(`${g.url}/b2`, { headers: { 'x-priority': 'batch' } });
    await until('b2 held', () => g.held.length === 1);
    g.finish();
    expect((await again).status).toBe(200);
    expect(g.arrived).toEqual(['/b0', '/std', '/vip', '/b2']);
    expect(g.gate.counters.shed).toBe(1);
  });

  it('sheds the waiting requests of the class the moment the trigger activates, and only those', async () => {
    const g = await gateway(queueIR({ maxInFlight: 1, rejectStatus: 429 }), { degradation: shedPolicy() });
    const first = fetch(`${g.url}/first`);
    await until('first held', () => g.held.length === 1);
    const batch = fetch(`${g.url}/b1`, { headers: { 'x-priority': 'batch' } });
    await until('b1 waiting', () => g.gate.waiting === 1);
    const std = fetch(`${g.url}/std`);
    await until('std waiting', () => g.gate.waiting === 2);
    // Waiting does not end by itself: nothing is shed before the trigger's evaluation.
    for (let i = 0; i < 3; i++) g.triggers?.record(g.time.now(), false, 500);
    g.time.advance(50);
    expect(g.gate.waiting).toBe(2);
    g.time.advance(50);
    const shed = await batch;
    expect(shed.status).toBe(429);
    expect(shed.headers.get('retry-after')).toBe('2');
    expect(await shed.json()).toMatchObject({ type: expect.stringContaining('queue-shed'), trigger: 'slow', priorityClass: 'batch' });
    expect(g.gate.waiting).toBe(1);
    g.finish();
    await until('std held', () => g.held.length === 1);
    g.finish();
    expect([(await first).status, (await std).status]).toEqual([200, 200]);
    expect(g.arrived).toEqual(['/first', '/std']);
    expect(g.ended).toContainEqual({ status: 429, error: undefined, path: '/b1' });
  });

  it('on a queue shared by routes (Backend scope), sheds only the requests of the route whose policy says so', async () => {
    const g = await gateway(queueIR({ maxInFlight: 1, concurrencyScope: 'Backend' }), { degradation: shedPolicy(), other: true });
    const first = fetch(`${g.url}/first`);
    await until('first held', () => g.held.length === 1);
    const mine = fetch(`${g.url}/b-mine`, { headers: { 'x-priority': 'batch' } });
    const theirs = fetch(`${g.url}/other/b-theirs`, { headers: { 'x-priority': 'batch' } });
    await until('both waiting', () => g.gate.waiting === 2);
    activate(g);
    expect((await mine).status).toBe(503);
    expect(g.gate.waiting).toBe(1);
    // The other route's batch requests are neither shed while waiting nor refused when they come.
    const later = fetch(`${g.url}/other/b-later`, { headers: { 'x-priority': 'batch' } });
    await until('later waiting', () => g.gate.waiting === 2);
    for (let i = 0; i < 3; i++) {
      await until(`request ${i} held`, () => g.held.length === 1);
      g.finish();
    }
    expect([(await first).status, (await theirs).status, (await later).status]).toEqual([200, 200, 200]);
    expect(g.arrived).toEqual(['/first', '/other/b-theirs', '/other/b-later']);
  });

  it('sheds nothing when the names match no class of the queue', async () => {
    const g = await gateway(queueIR({ maxInFlight: 4 }), {
      degradation: shedPolicy({ shedPriorityClasses: [{ triggers: ['slow'], classes: ['bulk'] }] }),
    });
    activate(g);
    const res = fetch(`${g.url}/b1`, { headers: { 'x-priority': 'batch' } });
    await until('b1 held', () => g.held.length === 1);
    g.finish();
    expect((await res).status).toBe(200);
    expect(g.gate.counters.shed).toBe(0);
  });
});

describe('queue runtime across config builds', () => {
  it('keeps a gate whose settings did not change (with its waiting and in-flight requests), and replaces one that changed', () => {
    const time = new ManualTime(0);
    const rt = runtime(time);
    const ir = queueIR();
    const b1 = rt.begin();
    const g1 = b1.gate(route(ir), ir).gate;
    b1.commit();
    // Unchanged settings (another generation of the policy): the same gate.
    const b2 = rt.begin();
    const g2 = b2.gate(route(ir), { ...ir, source: { ...ir.source, generation: 2 } }).gate;
    expect(g2).toBe(g1);
    b2.abort();
    // A build that is aborted changes nothing; a changed limit makes a new gate once committed.
    const b3 = rt.begin();
    const g3 = b3.gate(route(ir), { ...ir, maxInFlight: 5 }).gate;
    expect(g3).not.toBe(g1);
    expect(rt.gates().get('ns/q route=ns/r/rule-0')).toBe(g1);
    b3.commit();
    expect(rt.gates().get('ns/q route=ns/r/rule-0')).toBe(g3);
  });

  it('shares one gate between routes of a Backend-scoped policy that use the same backends', () => {
    const rt = runtime(new ManualTime(0));
    const ir = queueIR({ concurrencyScope: 'Backend' });
    const b = rt.begin();
    const r1 = { ...route(ir), id: 'ns/a/rule-0', backends: [{ backend: 'ns/svc:80', weight: 1 }] };
    const r2 = { ...route(ir), id: 'ns/b/rule-0', backends: [{ backend: 'ns/svc:80', weight: 1 }] };
    expect(b.gate(r1, ir).gate).toBe(b.gate(r2, ir).gate);
  });
});
