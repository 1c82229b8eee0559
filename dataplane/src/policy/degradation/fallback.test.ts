/**
 * The fallback chain through its stage, on real node:http upstreams and a hand-driven clock for
 * every time limit: moving on for a listed status, a step timeout, a refused connection and an
 * open breaker (skipped untried); the model rewrite; the static last step; a committed stream
 * that is never taken back; the route's request timeout bounding the whole chain.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BackendIR, DegradationIR, RouteIR } from '@jarvis/api';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import type { Cell } from '../../observe/cells.js';
import { sendProblem } from '../../observe/problem.js';
import { Exchange, type ExchangeHooks } from '../../pipeline/exchange.js';
import { run } from '../../pipeline/runner.js';
import { CONTINUE, type Stage } from '../../pipeline/stage.js';
import { BackendGuardRegistry, NO_EVENTS } from '../breaker/index.js';
import { headerPolicy } from '../../proxy/headers.js';
import { BackendSender } from '../../proxy/send.js';
import { Upstreams, type Backend } from '../../proxy/upstreams.js';
import { FallbackChain } from './fallback.js';
import { FallbackStage } from './fallback-stage.js';

const servers: http.Server[] = [];
const upstreams: Upstreams[] = [];

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

async function refusedPort(): Promise<number> {
  const port = await listen(() => {});
  const s = servers.pop();
  await new Promise((r) => s?.close(r));
  return port;
}

afterEach(async () => {
  for (const u of upstreams.splice(0)) await u.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const CALL = { maxBodyBytes: 1024 * 1024, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 };

/** An upstream that answers `status` with `body` and records the bodies it got. */
async function answering(status: number, body: string, headers: http.OutgoingHttpHeaders = {}) {
  const got: string[] = [];
  const port = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push(Buffer.concat(chunks).toString());
      res.writeHead(status, headers).end(body);
    });
  });
  return { port, got };
}

/** An upstream that takes requests and never answers. */
async function hanging() {
  const got: string[] = [];
  let arrive: () => void = () => {};
  const arrived = new Promise<void>((r) => (arrive = r));
  const port = await listen(() => {
    got.push('request');
    arrive();
  });
  return { port, got, arrived };
}

type Step = { name: string; port?: number; model?: string; timeoutMs?: number; static?: { status: number; body: string } };

interface Options {
  readonly requestMs?: number;
  readonly statusCodes?: number[];
  readonly timeouts?: boolean;
  /** Backends (by step name) whose breaker the sender reports open. */
  readonly open?: readonly string[];
  readonly whenTriggered?: { readonly triggers: string[]; readonly startAt: string };
  /** The triggers that hold (route id and name), read at each request. */
  readonly active?: Set<string>;
}

async function gateway(steps: Step[], o: Options = {}) {
  const time = new ManualTime(0);
  const irs: BackendIR[] = steps
    .filter((s) => s.port !== undefined)
    .map((s) => ({
      id: `ns/${s.name}:80`,
      service: { namespace: 'ns', name: s.name, port: 80 },
      endpoints: [{ address: '127.0.0.1', port: s.port ?? 0, ready: true, serving: true, terminating: false }],
      policies: [],
    }));
  const registry = new BackendGuardRegistry({
    clock: time,
    timers: time,
    random: () => 0,
    prober: { probe: () => {}, close: async () => {} },
    events: NO_EVENTS,
  });
  const guards = registry.prepare(irs);
  const pools = new Upstreams({ connectionsPerEndpoint: 4, connectTimeoutMs: 2_000, keepAliveTimeoutMs: 10_000 });
  upstreams.push(pools);
  const prepared = pools.prepare(irs, guards.guards);
  prepared.commit();
  guards.commit();
  const sender = new BackendSender({ call: CALL, headers: headerPolicy([]), stopwatch: time, clock: time, timers: time, random: () => 0 });
  const open = new Set((o.open ?? []).map((n) => `ns/${n}:80`));
  const sent: string[] = [];
  const degradation: DegradationIR = {
    fallback: {
      chain: steps.map((s) => ({
        name: s.name,
        ...(s.port !== undefined ? { backend: `ns/${s.name}:80` } : {}),
        ...(s.model !== undefined ? { model: s.model } : {}),
        ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
        ...(s.static
          ? {
              static: {
                status: s.static.status,
                contentType: 'application/json',
                body: s.static.body,
                headers: [{ name: 'x-degraded', value: 'yes' }],
              },
            }
          : {}),
      })),
      retryOn: {
        statusCodes: o.statusCodes ?? [429, 500, 502, 503, 504],
        timeouts: o.timeouts ?? true,
        connectErrors: true,
        breakerOpen: true,
      },
      ...(o.whenTriggered ? { whenTriggered: o.whenTriggered } : {}),
    },
    triggers: [],
    featureToggles: [],
    featureHeader: 'x-jarvis-features',
    source: { kind: 'DegradationPolicy', namespace: 'ns', name: 'dp', generation: 1 },
  };
  const route: RouteIR = {
    id: 'ns/r/rule-0',
    route: { namespace: 'ns', name: 'r' },
    ruleIndex: 0,
    listeners: ['http'],
    hostnames: [],
    matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
    backends: [],
    unresolvedWeight: 0,
    degradation,
    ...(o.requestMs !== undefined ? { timeouts: { requestMs: o.requestMs } } : {}),
  };
  const counts = new Map<string, number>();
  const cell = (step: string, result: string): Cell => ({
    inc: () => void counts.set(`${step} ${result}`, (counts.get(`${step} ${result}`) ?? 0) + 1),
  });
  const chain = new FallbackChain(
    degradation.fallback as NonNullable<DegradationIR['fallback']>,
    prepared.backends,
    {
      sender: {
        rejects: (b: Backend) => open.has(b.id) || sender.rejects(b),
        send: (x, b, owner, options) => {
          sent.push(b.id);
          sender.send(x, b, owner, options);
        },
      },
      stopwatch: time,
      call: CALL,
      cell,
      ...(o.active
        ? { triggers: { isActive: (routeId: string, trigger: string) => o.active?.has(`${routeId} ${trigger}`) ?? false } }
        : {}),
    },
    undefined,
    route.id,
  );
  const stage = new FallbackStage(route, chain);
  const outcomes: { status: number; error?: string; degraded?: true }[] = [];
  const hooks: ExchangeHooks = {
    ended: (x) =>
      outcomes.push({ status: x.status, ...(x.error ? { error: x.error } : {}), ...(x.degraded ? { degraded: true as const } : {}) }),
    failed: (x) => sendProblem(x.res, 500, 'internal', 'Internal error', 'failed'),
  };
  const port = await listen((req, res) => {
    run(new Exchange(req, res, [buffer, stage], time.now(), hooks));
  });
  return { url: `http://127.0.0.1:${port}`, time, counts, sent, outcomes };
}

/** Reads the body into x.body first, as the gateway's buffer stage does on every route. */
const buffer: Stage = {
  name: 'buffer',
  enter: (x) =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      x.req.on('data', (c: Buffer) => chunks.push(c));
      x.req.on('end', () => {
        x.body = Buffer.concat(chunks);
        resolve(CONTINUE);
      });
    }),
};

const post = (url: string, body: unknown) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('fallback chain', () => {
  it('a listed status moves on: the next step answers, with the model rewritten and the headers saying so', async () => {
    const gpt4 = await answering(503, 'gpt-4 is down');
    const gpt35 = await answering(200, '{"from":"gpt-3.5"}');
    const gw = await gateway([
      { name: 'gpt-4', port: gpt4.port, model: 'gpt-4' },
      { name: 'gpt-35', port: gpt35.port, model: 'gpt-3.5-turbo' },
    ]);
    const res = await post(gw.url, { model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"from":"gpt-3.5"}');
    expect(res.headers.get('x-jarvis-fallback')).toBe('gpt-35');
    expect(res.headers.get('x-jarvis-attempts')).toBe('2');
    expect(gpt4.got.map((b) => JSON.parse(b) as unknown)).toEqual([{ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] }]);
    expect(gpt35.got.map((b) => JSON.parse(b) as unknown)).toEqual([
      { model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'hi' }] },
    ]);
    // A later step's answer is degraded: a response cache on the route does not keep it.
    await expect.poll(() => gw.outcomes).toEqual([{ status: 200, degraded: true }]);
    expect(Object.fromEntries(gw.counts)).toEqual({ 'gpt-4 status': 1, 'gpt-35 answered': 1 });
  });

  it("a discarded short answer keeps its connection: the failing step's 503 costs no new connection", async () => {
    const body = '{"error":"down"}';
    const failing = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(503, { 'content-type': 'application/json', 'content-length': body.length }).end(body));
    });
    let opened = 0;
    let closed = 0;
    servers.at(-1)?.on('connection', (socket) => {
      opened++;
      socket.on('close', () => closed++);
    });
    const ok = await answering(200, 'ok');
    const gw = await gateway([
      { name: 'failing', port: failing },
      { name: 'ok', port: ok.port },
    ]);
    // One after the other: each request finds the connection the 503 before it left open.
    for (let i = 0; i < 3; i++) {
      const res = await post(gw.url, { model: 'm' });
      expect(await res.text()).toBe('ok');
    }
    expect(opened).toBe(1);
    expect(closed).toBe(0);
    expect(gw.counts.get('failing status')).toBe(3);
  });

  it('the first step answering says so too; a status not listed is the answer', async () => {
    const first = await answering(400, 'bad request');
    const second = await answering(200, 'second');
    const gw = await gateway([
      { name: 'a', port: first.port },
      { name: 'b', port: second.port },
    ]);
    const res = await post(gw.url, { model: 'm' });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('bad request');
    expect(res.headers.get('x-jarvis-fallback')).toBe('a');
    expect(res.headers.get('x-jarvis-attempts')).toBe('1');
    expect(second.got).toEqual([]);
    // The first step's answer is not a degraded one (a response cache may keep it).
    await expect.poll(() => gw.outcomes.length).toBe(1);
    expect(gw.outcomes[0]?.degraded).toBeUndefined();
  });

  it("a step's timeout moves on when it runs out before the head, not a moment earlier", async () => {
    const slow = await hanging();
    const next = await answering(200, 'next');
    const gw = await gateway([
      { name: 'slow', port: slow.port, timeoutMs: 500 },
      { name: 'next', port: next.port },
    ]);
    const pending = post(gw.url, { model: 'm' });
    await slow.arrived;
    const armed = gw.time.pending();
    gw.time.advance(499);
    // The step's timeout is a timer on the injected clock: none fired a millisecond early.
    expect(gw.time.pending()).toBe(armed);
    expect(next.got).toEqual([]);
    gw.time.advance(1);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('next');
    expect(gw.counts.get('slow timeout')).toBe(1);
  });

  it('with timeouts off, a step that runs out is the answer (504)', async () => {
    const slow = await hanging();
    const next = await answering(200, 'next');
    const gw = await gateway(
      [
        { name: 'slow', port: slow.port, timeoutMs: 100 },
        { name: 'next', port: next.port },
      ],
      { timeouts: false },
    );
    const pending = post(gw.url, { model: 'm' });
    await slow.arrived;
    gw.time.advance(100);
    expect((await pending).status).toBe(504);
    expect(next.got).toEqual([]);
  });

  it('a refused connection moves on; an open breaker is skipped without trying', async () => {
    const dead = await refusedPort();
    const open = await answering(200, 'never');
    const local = await answering(200, 'local');
    const gw = await gateway(
      [
        { name: 'dead', port: dead },
        { name: 'open', port: open.port },
        { name: 'local', port: local.port },
      ],
      { open: ['open'] },
    );
    const res = await post(gw.url, { model: 'm' });
    expect(await res.text()).toBe('local');
    expect(res.headers.get('x-jarvis-fallback')).toBe('local');
    expect(res.headers.get('x-jarvis-attempts')).toBe('3');
    expect(open.got).toEqual([]);
    expect(gw.sent).toEqual(['ns/dead:80', 'ns/local:80']);
    expect(Object.fromEntries(gw.counts)).toEqual({ 'dead connect': 1, 'open breaker_open': 1, 'local answered': 1 });
  });

  it('every backend down: the static last step answers with its status, headers and body', async () => {
    const vector = await answering(500, 'vector down');
    const keyword = await answering(502, 'keyword down');
    const gw = await gateway([
      { name: 'vector', port: vector.port },
      { name: 'keyword', port: keyword.port },
      { name: 'empty', static: { status: 200, body: '{"results":[]}' } },
    ]);
    const res = await post(gw.url, { query: 'q' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"results":[]}');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-degraded')).toBe('yes');
    expect(res.headers.get('x-jarvis-fallback')).toBe('empty');
    expect(res.headers.get('x-jarvis-attempts')).toBe('3');
    await expect.poll(() => gw.outcomes).toEqual([{ status: 200, degraded: true }]);
  });

  it("the last backend step's listed status is the answer when nothing follows", async () => {
    const a = await answering(503, 'a down');
    const b = await answering(503, 'b down too');
    const gw = await gateway([
      { name: 'a', port: a.port },
      { name: 'b', port: b.port },
    ]);
    const res = await post(gw.url, { model: 'm' });
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('b down too');
    expect(res.headers.get('x-jarvis-fallback')).toBe('b');
  });

  it('a committed stream is never taken back: a break after the first byte does not fall back', async () => {
    let cut: () => void = () => {};
    const streaming = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      cut = () => res.destroy();
    });
    const next = await answering(200, 'next');
    const gw = await gateway([
      { name: 'stream', port: streaming, timeoutMs: 100 },
      { name: 'next', port: next.port },
    ]);
    const res = await post(gw.url, { model: 'm', stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('stream');
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(Buffer.from(first?.value ?? new Uint8Array()).toString()).toBe('data: first\n\n');
    gw.time.advance(1_000); // past the step timeout: it bounded the head only
    cut();
    await expect(reader?.read()).rejects.toThrow();
    expect(next.got).toEqual([]);
    expect(gw.counts.get('stream answered')).toBe(1);
  });

  it("the route's request timeout bounds the whole chain: then only the static step answers", async () => {
    const a = await hanging();
    const b = await hanging();
    const c = await answering(200, 'never reached');
    const gw = await gateway(
      [
        { name: 'a', port: a.port, timeoutMs: 600 },
        { name: 'b', port: b.port, timeoutMs: 600 },
        { name: 'c', port: c.port },
        { name: 'empty', static: { status: 200, body: '[]' } },
      ],
      { requestMs: 1_000 },
    );
    const pending = post(gw.url, { model: 'm' });
    await a.arrived;
    gw.time.advance(600);
    await b.arrived;
    const armed = gw.time.pending();
    gw.time.advance(399);
    expect(gw.time.pending()).toBe(armed); // nothing runs out before the chain's deadline
    gw.time.advance(1); // the chain's deadline: b is cut short, c skipped
    const res = await pending;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('[]');
    expect(res.headers.get('x-jarvis-fallback')).toBe('empty');
    expect(c.got).toEqual([]);
    expect(gw.counts.get('c skipped')).toBe(1);
  });

  it('a step that would start with less than a millisecond of the chain left is not started', async () => {
    const a = await hanging();
    const b = await answering(200, 'too late');
    const gw = await gateway(
      [
        { name: 'a', port: a.port, timeoutMs: 299.5 },
        { name: 'b', port: b.port },
      ],
      { requestMs: 300 },
    );
    const pending = post(gw.url, { model: 'm' });
    await a.arrived;
    gw.time.advance(299.5);
    const res = await pending;
    expect(res.status).toBe(504);
    expect(b.got).toEqual([]);
    expect(gw.counts.get('b skipped')).toBe(1);
  });

  it('while a trigger of whenTriggered holds, requests start at its step; before and after, at the first', async () => {
    const a = await answering(200, 'from a');
    const b = await answering(200, 'from b');
    const active = new Set<string>();
    const gw = await gateway(
      [
        { name: 'a', port: a.port },
        { name: 'b', port: b.port },
      ],
      { whenTriggered: { triggers: ['cpu', 'slow'], startAt: 'b' }, active },
    );
    const answer = async () => {
      const res = await post(gw.url, { model: 'm' });
      return `${await res.text()} ${res.headers.get('x-jarvis-fallback')} ${res.headers.get('x-jarvis-attempts')}`;
    };
    expect(await answer()).toBe('from a a 1');
    active.add('ns/other/rule-0 slow'); // another route's trigger
    expect(await answer()).toBe('from a a 1');
    active.add('ns/r/rule-0 slow');
    expect(await answer()).toBe('from b b 1');
    expect(a.got).toHaveLength(2);
    active.clear();
    expect(await answer()).toBe('from a a 1');
  });

  it('without a static step, the passed deadline is a 504', async () => {
    const a = await hanging();
    const b = await answering(200, 'never reached');
    const gw = await gateway(
      [
        { name: 'a', port: a.port },
        { name: 'b', port: b.port },
      ],
      { requestMs: 300 },
    );
    const pending = post(gw.url, { model: 'm' });
    await a.arrived;
    gw.time.advance(300);
    const res = await pending;
    expect(res.status).toBe(504);
    expect(res.headers.get('x-jarvis-fallback')).toBe('a');
    expect(b.got).toEqual([]);
    await expect.poll(() => gw.outcomes).toEqual([{ status: 504, error: 'timeout' }]);
  });
});
