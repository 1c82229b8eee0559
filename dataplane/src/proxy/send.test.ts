/**
 * The backend sender through the proxy stage, on real node:http upstreams and a hand-driven clock
 * for every time limit: retries to another endpoint (only when allowed), per-try and whole-request
 * timeouts, Retry-After, the retry budget, the breaker failing fast with a 503, and the owner
 * taking a final answer back before commit (what a fallback stage does).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BackendIR, CircuitBreakerIR, RetryIR, RouteIR } from '@jarvis/api';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import { sendProblem } from '../observe/problem.js';
import { Exchange, type ExchangeHooks } from '../pipeline/exchange.js';
import { endExchange, run } from '../pipeline/runner.js';
import { TAKEN, type Stage } from '../pipeline/stage.js';
import { BackendGuardRegistry, NO_EVENTS, type BackendEvents } from '../policy/breaker/index.js';
import { headerPolicy } from './headers.js';
import { BackendSender, type SendOwner, type SendResult } from './send.js';
import { ProxyStage, answerSendResult } from './stage.js';
import { Upstreams, type Backend } from './upstreams.js';

const servers: http.Server[] = [];
const upstreams: Upstreams[] = [];

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on. */
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

const RETRY: RetryIR = {
  attempts: 2,
  retryOn: { statusCodes: [502, 503, 504], timeouts: true, connectErrors: true },
  backoff: { baseMs: 0, maxMs: 250 },
  budget: { percent: 20, minRetriesPerSecond: 10 },
};

const CALL = { maxBodyBytes: 1024 * 1024, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 };

/** One backend over `ports` (in this order) with the policy `cb`, behind the proxy stage of a route with `timeouts`. */
async function gateway(ports: number[], cb: Partial<CircuitBreakerIR> | undefined, timeouts?: RouteIR['timeouts']) {
  const time = new ManualTime(0);
  const events: string[] = [];
  const recorder: BackendEvents = {
    ...NO_EVENTS,
    retried: (_b, reason) => events.push(`retry ${reason}`),
    budgetExhausted: () => events.push('budget exhausted'),
    breakerRejected: () => events.push('rejected'),
  };
  const ir: BackendIR = {
    id: 'ns/up:80',
    service: { namespace: 'ns', name: 'up', port: 80 },
    endpoints: ports.map((port) => ({ address: '127.0.0.1', port, ready: true, serving: true, terminating: false })),
    ...(cb
      ? {
          circuitBreaker: {
            panicThresholdPercent: 0,
            source: { kind: 'CircuitBreakerPolicy', namespace: 'ns', name: 'cb', generation: 1 },
            ...cb,
          },
        }
      : {}),
    policies: [],
  };
  const registry = new BackendGuardRegistry({
    clock: time,
    timers: time,
    random: () => 0,
    prober: { probe: () => {}, close: async () => {} },
    events: recorder,
  });
  const guards = registry.prepare([ir]);
  const pools = new Upstreams({ connectionsPerEndpoint: 4, connectTimeoutMs: 2_000, keepAliveTimeoutMs: 10_000 });
  upstreams.push(pools);
  const prepared = pools.prepare([ir], guards.guards);
  prepared.commit();
  guards.commit();
  const backend = prepared.backends.get(ir.id) as Backend;
  const sender = new BackendSender({ call: CALL, headers: headerPolicy([]), stopwatch: time, clock: time, timers: time, random: () => 0 });
  const route: RouteIR = {
    id: 'ns/r/rule-0',
    route: { namespace: 'ns', name: 'r' },
    ruleIndex: 0,
    listeners: ['http'],
    hostnames: [],
    matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
    backends: [{ backend: ir.id, weight: 1 }],
    unresolvedWeight: 0,
    ...(timeouts ? { timeouts } : {}),
  };
  const stage = new ProxyStage(route, { backends: prepared.backends, call: CALL, random: () => 0, sender });
  const outcomes: { status: number; error?: string; attempts: number }[] = [];
  const url = await front([stage], time, (x) =>
    outcomes.push({ status: x.status, ...(x.error ? { error: x.error } : {}), attempts: x.attempts }),
  );
  return { url, time, events, backend, sender, outcomes };
}

async function front(chain: Stage[], time: ManualTime, ended: (x: Exchange) => void): Promise<string> {
  const hooks: ExchangeHooks = { ended, failed: (x) => sendProblem(x.res, 500, 'internal', 'Internal error', 'failed') };
  const port = await listen((req, res) => run(new Exchange(req, res, chain, time.now(), hooks)));
  return `http://127.0.0.1:${port}`;
}

/** An upstream that answers `status` and counts what it got. */
async function answering(status = 200, headers: http.OutgoingHttpHeaders = {}) {
  const got: string[] = [];
  const port = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push(`${req.method} ${Buffer.concat(chunks).toString()}`);
      res.writeHead(status, headers).end(`from ${status}`);
    });
  });
  return { port, got };
}

/** An upstream that takes requests and never answers; `arrived` resolves on the first. */
async function hanging() {
  let arrive: () => void = () => {};
  const arrived = new Promise<void>((r) => (arrive = r));
  const port = await listen(() => arrive());
  return { port, arrived };
}

describe('retries', () => {
  it('a refused connection is retried on another endpoint', async () => {
    const dead = await refusedPort();
    const ok = await answering();
    const gw = await gateway([dead, ok.port], { retry: RETRY });
    const res = await fetch(`${gw.url}/x`);
    expect(res.status).toBe(200);
    expect(gw.events).toEqual(['retry connect']);
    await expect.poll(() => gw.outcomes).toEqual([{ status: 200, attempts: 2 }]);
  });

  it('without a retry section, the refused connection is the answer (502)', async () => {
    const dead = await refusedPort();
    const ok = await answering();
    const gw = await gateway([dead, ok.port], undefined);
    expect((await fetch(`${gw.url}/x`)).status).toBe(502);
    expect(ok.got).toEqual([]);
  });

  it('a retriable status of an idempotent request is retried; of a POST it is the answer', async () => {
    const failing = await answering(503);
    const ok = await answering();
    const gw = await gateway([failing.port, ok.port], { retry: RETRY });
    expect(await (await fetch(`${gw.url}/x`)).text()).toBe('from 200');
    const post = await fetch(`${gw.url}/x`, { method: 'POST', body: 'once' });
    // Round robin sends the POST to the 503 endpoint first (the GET's retry went to the other).
    expect(post.status).toBe(503);
    expect(failing.got).toEqual(['GET ', 'POST once']);
    expect(ok.got).toEqual(['GET ']);
  });

  it('a POST that never reached its endpoint is retried, streamed body and all', async () => {
    const dead = await refusedPort();
    const ok = await answering();
    const gw = await gateway([dead, ok.port], { retry: RETRY });
    const body = 'x'.repeat(100_000);
    const res = await fetch(`${gw.url}/x`, {
      method: 'POST',
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(body));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(200);
    expect(ok.got).toEqual([`POST ${body}`]);
  });

  it('never retries once the answer has started to reach the client', async () => {
    let cut: () => void = () => {};
    const breaking = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      cut = () => res.destroy();
    });
    const ok = await answering();
    const gw = await gateway([breaking, ok.port], { retry: RETRY });
    const res = await fetch(`${gw.url}/x`);
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    await reader?.read();
    cut();
    await expect(reader?.read()).rejects.toThrow();
    expect(ok.got).toEqual([]);
    expect(gw.events).toEqual([]);
  });

  it('a per-try timeout is retried on another endpoint', async () => {
    const slow = await hanging();
    const ok = await answering();
    const gw = await gateway([slow.port, ok.port], { retry: { ...RETRY, perTryTimeoutMs: 200 } });
    const pending = fetch(`${gw.url}/x`);
    await slow.arrived;
    gw.time.advance(199);
    expect(ok.got).toEqual([]);
    gw.time.advance(1);
    expect((await pending).status).toBe(200);
    expect(gw.events).toEqual(['retry timeout']);
  });

  it("the route's backendRequest timeout bounds each try; its request timeout the whole exchange (504)", async () => {
    const slow = await hanging();
    const slow2 = await hanging();
    const gw = await gateway([slow.port, slow2.port], { retry: RETRY }, { requestMs: 500, backendRequestMs: 300 });
    const pending = fetch(`${gw.url}/x`);
    await slow.arrived;
    gw.time.advance(300); // the first try times out, the retry starts with 200 ms left
    await slow2.arrived;
    gw.time.advance(200);
    const res = await pending;
    expect(res.status).toBe(504);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(gw.events).toEqual(['retry timeout']);
    await expect.poll(() => gw.outcomes).toEqual([{ status: 504, error: 'timeout', attempts: 2 }]);
  });

  it("waits for the answer's Retry-After when it is within backoff.max, and does not retry a longer one", async () => {
    const busy = await answering(503, { 'retry-after': '0' });
    const ok = await answering();
    const gw = await gateway([busy.port, ok.port], { retry: RETRY });
    expect((await fetch(`${gw.url}/x`)).status).toBe(200);

    const busyLong = await answering(503, { 'retry-after': '1' });
    const ok2 = await answering();
    const gw2 = await gateway([busyLong.port, ok2.port], { retry: RETRY });
    const res = await fetch(`${gw2.url}/x`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(ok2.got).toEqual([]);
  });

  it('stops at the retry budget: the failure stands and the exhaustion is counted', async () => {
    const dead = await refusedPort();
    const ok = await answering();
    const gw = await gateway([dead, ok.port], { retry: { ...RETRY, budget: { percent: 0, minRetriesPerSecond: 1 } } });
    // Round robin: refused, (retry) ok; refused; ok; refused, (retry) ok.
    expect((await fetch(`${gw.url}/x`)).status).toBe(200); // the one token of the second
    expect((await fetch(`${gw.url}/x`)).status).toBe(502);
    expect(gw.events).toEqual(['retry connect', 'budget exhausted']);
    gw.time.advance(1_000);
    expect((await fetch(`${gw.url}/x`)).status).toBe(200);
    expect((await fetch(`${gw.url}/x`)).status).toBe(200); // refilled
    expect(gw.events).toEqual(['retry connect', 'budget exhausted', 'retry connect']);
  });

  it('makes at most `attempts` retries, each to an endpoint not tried yet', async () => {
    const a = await answering(502);
    const b = await answering(502);
    const c = await answering(502);
    const d = await answering(200);
    const gw = await gateway([a.port, b.port, c.port, d.port], { retry: { ...RETRY, attempts: 2 } });
    expect((await fetch(`${gw.url}/x`)).status).toBe(502);
    expect([a.got.length, b.got.length, c.got.length, d.got.length]).toEqual([1, 1, 1, 0]);
    await expect.poll(() => gw.outcomes).toEqual([{ status: 502, attempts: 3 }]);
  });
});

const BREAKER = {
  failureStatusCodes: [500, 502, 503, 504],
  countTimeouts: true,
  countConnectErrors: true,
  consecutiveFailures: 2,
  failureRatePercent: 50,
  window: { type: 'Count' as const, size: 10 },
  minimumCalls: 10,
  halfOpen: { maxProbes: 1, successThreshold: 1, probeTimeoutMs: 5_000 },
  openDuration: { baseMs: 3_000, maxMs: 3_000, multiplierPercent: 100, jitterPercent: 0 },
};

describe('the breaker', () => {
  it('open: 503 problem+json with Retry-After, nothing sent upstream; a half-open probe closes it', async () => {
    let status = 500;
    const got: number[] = [];
    const port = await listen((_req, res) => {
      got.push(status);
      res.writeHead(status).end();
    });
    const gw = await gateway([port], { breaker: BREAKER });
    expect((await fetch(`${gw.url}/x`)).status).toBe(500);
    expect((await fetch(`${gw.url}/x`)).status).toBe(500);
    expect(gw.sender.rejects(gw.backend)).toBe(true);
    const res = await fetch(`${gw.url}/x`);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.json()).toMatchObject({ type: 'https://stability.jarvis.io/problems/circuit-open', backend: 'ns/up:80' });
    expect(got).toEqual([500, 500]);
    expect(gw.events).toEqual(['rejected']);
    await expect.poll(() => gw.outcomes.at(-1)).toEqual({ status: 503, error: 'breaker-open', attempts: 0 });

    status = 200;
    gw.time.advance(3_000);
    expect(gw.sender.rejects(gw.backend)).toBe(false);
    expect((await fetch(`${gw.url}/x`)).status).toBe(200); // the probe
    expect(gw.backend.guard.breaker?.state).toBe('closed');
  });

  it('counts the send, not each try: a try that failed on one endpoint and succeeded on another is a success', async () => {
    const dead = await refusedPort();
    const ok = await answering();
    const gw = await gateway([dead, ok.port], { breaker: { ...BREAKER, consecutiveFailures: 1 }, retry: RETRY });
    for (let i = 0; i < 4; i++) expect((await fetch(`${gw.url}/x`)).status).toBe(200);
    expect(gw.events.filter((e) => e === 'retry connect').length).toBeGreaterThan(0);
    expect(gw.backend.guard.breaker?.state).toBe('closed');
    const only = await gateway([dead], { breaker: { ...BREAKER, consecutiveFailures: 1 }, retry: RETRY });
    expect((await fetch(`${only.url}/x`)).status).toBe(502); // nowhere else to go: the send failed
    expect(only.backend.guard.breaker?.state).toBe('open');
  });

  it('4xx answers are neutral by default: they never open it', async () => {
    const port = (await answering(404)).port;
    const gw = await gateway([port], { breaker: BREAKER });
    for (let i = 0; i < 5; i++) expect((await fetch(`${gw.url}/x`)).status).toBe(404);
    expect(gw.backend.guard.breaker?.state).toBe('closed');
  });
});

describe('the owner hook (what a fallback stage uses)', () => {
  it('a final answer can be discarded before commit, and the exchange sent on elsewhere', async () => {
    const failing = await answering(503);
    const ok = await answering(200);
    const first = await gateway([failing.port], { breaker: BREAKER });
    const second = await gateway([ok.port], undefined);
    const steps: string[] = [];
    /** Tries `first`, and on a 5xx (discarded, never seen by the client) `second`. */
    class TwoStep implements Stage, SendOwner {
      readonly name = 'two-step';
      #step = 0;
      enter(x: Exchange) {
        first.sender.send(x, first.backend, this);
        return TAKEN;
      }
      accept(_x: Exchange, status: number): boolean {
        steps.push(`head ${status}`);
        return status < 500;
      }
      done(x: Exchange, result: SendResult): void {
        steps.push(result.kind === 'discarded' ? `discarded ${result.status}` : result.kind);
        if (result.kind === 'discarded' && this.#step++ === 0) {
          second.sender.send(x, second.backend, this);
          return;
        }
        answerSendResult(x, x.backend ?? '', result, CALL);
        endExchange(x);
      }
    }
    const url = await front([new TwoStep()], new ManualTime(0), () => {});
    const res = await fetch(`${url}/x`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('from 200');
    expect(steps).toEqual(['head 503', 'discarded 503', 'head 200', 'answered']);
    // The discarded 503 still counted for the first backend's breaker.
    expect(first.backend.guard.breaker?.view().consecutiveFailures).toBe(1);
  });
});
