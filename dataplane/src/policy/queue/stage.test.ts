/**
 * The queue stage on a real node:http server (real requests, real disconnects) with an injected
 * clock: a terminal stage holds each admitted request until the test lets it go, standing in for
 * a slow upstream. Also: the runtime keeps a gate across config builds when its settings are
 * unchanged (waiting requests and in-flight counts survive a reload).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { QueueIR, RouteIR } from '@jarvis/api';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { BodyBudget } from '../../inspect/budget.js';
import type { StageContext } from '../../pipeline/context.js';
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

function context(time: ManualTime, queues: ReturnType<QueueRuntime['begin']>): StageContext {
  return {
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

/** A gateway whose route chain is the queue stage and a terminal stage that holds requests. */
async function gateway(ir: QueueIR) {
  const time = new ManualTime(1_000_000);
  const rt = runtime(time);
  const build = rt.begin();
  const queue = queueStage.build(route(ir), context(time, build)) as Stage;
  build.commit();
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
    const x = new Exchange(req, res, [queue, terminal], time.now(), hooks);
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
  return { url, time, gate, held, arrived, ended, finish, rt };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
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
    await new Promise((r) => setTimeout(r, 30));
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
