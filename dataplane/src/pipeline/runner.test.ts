/**
 * The chain runner on a real node:http server (real request and response objects), with an
 * injected clock and test stages: order of enter and leave, early answers, asynchronous stages,
 * and that every entered stage's leave runs once on every path — answers, throws, rejections,
 * a client that leaves while a stage waits, and an upstream that fails.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import { sendProblem } from '../observe/problem.js';
import { BackendGuard, NO_EVENTS } from '../policy/breaker/index.js';
import { BackendSender } from '../proxy/send.js';
import { headerPolicy } from '../proxy/headers.js';
import { ProxyStage } from '../proxy/stage.js';
import { GuardedBackend, type Backend } from '../proxy/upstreams.js';
import { Exchange, type ExchangeHooks } from './exchange.js';
import { continueExchange, endExchange, failExchange, run } from './runner.js';
import { ANSWERED, CONTINUE, TAKEN, type Stage, type Verdict } from './stage.js';

const servers: http.Server[] = [];
const pools: Pool[] = [];

afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

interface Ended {
  status: number;
  error: string | undefined;
  log: string[];
}

/** A gateway whose every request runs `chain(log)`; `ended` gets each exchange's outcome. */
async function gateway(chain: (log: string[]) => Stage[]) {
  const time = new ManualTime(1_000);
  const ended: Ended[] = [];
  const failures: unknown[] = [];
  const hooks: ExchangeHooks = {
    ended: (x) => ended.push({ status: x.status, error: x.error, log: (x as Exchange & { log: string[] }).log }),
    failed: (x, err) => {
      failures.push(err);
      if (!x.res.headersSent) sendProblem(x.res, 500, 'internal', 'Internal error', 'failed');
    },
  };
  const port = await listen((req, res) => {
    const log: string[] = [];
    const x = Object.assign(new Exchange(req, res, chain(log), time.now(), hooks), { log });
    run(x);
  });
  return { url: `http://127.0.0.1:${port}`, ended, failures, time };
}

/** A stage that logs its enter and leave and then does `then`. */
function stage(name: string, log: string[], then: (x: Exchange) => Verdict | Promise<Verdict> = () => CONTINUE): Stage {
  return {
    name,
    enter: (x) => {
      log.push(`enter ${name}`);
      return then(x);
    },
    leave: (x) => log.push(`leave ${name} ${x.status}`),
  };
}

function answer(status: number): (x: Exchange) => Verdict {
  return (x) => {
    x.status = status;
    x.res.writeHead(status).end(`answered ${status}`);
    return ANSWERED;
  };
}

/**
 * A client that leaves while a stage waits: the stage calls `waiting(x)`; `leave(url)` sends the
 * request, aborts it once the stage waits, and returns when the gateway has seen the client go.
 */
function clientLeaving() {
  let reachedNow: () => void = () => {};
  const reached = new Promise<void>((r) => (reachedNow = r));
  let gone: () => void = () => {};
  const closed = new Promise<void>((r) => (gone = r));
  return {
    waiting(x: Exchange): void {
      x.res.once('close', gone);
      reachedNow();
    },
    async leave(url: string): Promise<void> {
      const controller = new AbortController();
      const pending = fetch(`${url}/x`, { signal: controller.signal }).catch(() => undefined);
      await reached;
      controller.abort();
      await pending;
      await closed;
    },
  };
}

describe('chain runner', () => {
  it('enters stages in order and leaves them in reverse order after the answer', async () => {
    const gw = await gateway((log) => [stage('a', log), stage('b', log), stage('c', log, answer(200))]);
    const res = await fetch(`${gw.url}/x`);
    expect(await res.text()).toBe('answered 200');
    expect(gw.ended).toEqual([
      { status: 200, error: undefined, log: ['enter a', 'enter b', 'enter c', 'leave c 200', 'leave b 200', 'leave a 200'] },
    ]);
  });

  it('stops at a stage that answers early: later stages are neither entered nor left', async () => {
    const gw = await gateway((log) => [stage('a', log), stage('limit', log, answer(429)), stage('never', log, answer(200))]);
    expect((await fetch(`${gw.url}/x`)).status).toBe(429);
    expect(gw.ended[0]?.log).toEqual(['enter a', 'enter limit', 'leave limit 429', 'leave a 429']);
  });

  it('resumes after an asynchronous stage, and a stage may answer asynchronously', async () => {
    const gw = await gateway((log) => [
      stage('a', log, () => Promise.resolve(CONTINUE)),
      stage('b', log, (x) => Promise.resolve(answer(201)(x))),
    ]);
    expect((await fetch(`${gw.url}/x`)).status).toBe(201);
    expect(gw.ended[0]?.log).toEqual(['enter a', 'enter b', 'leave b 201', 'leave a 201']);
  });

  it('answers 500 when a stage throws, and still leaves every entered stage', async () => {
    const gw = await gateway((log) => [
      stage('a', log),
      stage('boom', log, () => {
        throw new Error('bug');
      }),
    ]);
    const res = await fetch(`${gw.url}/x`);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(gw.ended).toEqual([{ status: 500, error: 'internal', log: ['enter a', 'enter boom', 'leave boom 500', 'leave a 500'] }]);
    expect(gw.failures).toHaveLength(1);
  });

  it('answers 500 when an asynchronous stage rejects', async () => {
    const gw = await gateway((log) => [stage('a', log, () => Promise.reject(new Error('bug')))]);
    expect((await fetch(`${gw.url}/x`)).status).toBe(500);
    expect(gw.ended).toEqual([{ status: 500, error: 'internal', log: ['enter a', 'leave a 500'] }]);
  });

  it('ends with 499 when the client leaves while a stage waits; later stages are not entered', async () => {
    let release: (v: Verdict) => void = () => {};
    const leaving = clientLeaving();
    const gw = await gateway((log) => [
      stage('wait', log, (x) => {
        leaving.waiting(x);
        return new Promise<Verdict>((r) => (release = r));
      }),
      stage('never', log, answer(200)),
    ]);
    await leaving.leave(gw.url); // the gateway saw the client go
    release(CONTINUE);
    await expect.poll(() => gw.ended).toEqual([{ status: 499, error: 'client-gone', log: ['enter wait', 'leave wait 499'] }]);
  });

  it('a stage that takes the exchange over ends it later, and leave runs then', async () => {
    const gw = await gateway((log) => [
      stage('a', log),
      stage('taker', log, (x) => {
        setImmediate(() => {
          x.status = 202;
          x.res.writeHead(202).end();
          log.push('answered later');
          endExchange(x); // as the proxy stage does when its upstream call is over
        });
        return TAKEN;
      }),
    ]);
    expect((await fetch(`${gw.url}/x`)).status).toBe(202);
    await expect.poll(() => gw.ended[0]?.log).toEqual(['enter a', 'enter taker', 'answered later', 'leave taker 202', 'leave a 202']);
  });

  it('a stage that waits without a promise goes on with continueExchange: next stage, an answer, a promise, or 499 for a gone client', async () => {
    // What the rate-limit stage does on Redis: TAKEN now, the verdict later from the store's reply.
    const later = (verdict: () => Verdict | Promise<Verdict>) => (x: Exchange) => {
      setImmediate(() => continueExchange(x, verdict()));
      return TAKEN;
    };
    const gw = await gateway((log) => [
      stage(
        'a',
        log,
        later(() => CONTINUE),
      ),
      stage('b', log, answer(200)),
    ]);
    expect((await fetch(`${gw.url}/x`)).status).toBe(200);
    await expect.poll(() => gw.ended[0]?.log).toEqual(['enter a', 'enter b', 'leave b 200', 'leave a 200']);

    let answering!: Exchange;
    const gw2 = await gateway((log) => [
      stage('a', log, (x) => {
        answering = x;
        return later(() => answer(429)(answering))(x);
      }),
      stage('never', log, answer(200)),
    ]);
    expect((await fetch(`${gw2.url}/x`)).status).toBe(429);
    await expect.poll(() => gw2.ended[0]?.log).toEqual(['enter a', 'leave a 429']);

    const gw3 = await gateway((log) => [
      stage(
        'a',
        log,
        later(() => Promise.resolve(CONTINUE)),
      ),
      stage('b', log, answer(201)),
    ]);
    expect((await fetch(`${gw3.url}/x`)).status).toBe(201);
    await expect.poll(() => gw3.ended[0]?.log).toEqual(['enter a', 'enter b', 'leave b 201', 'leave a 201']);

    let resume: () => void = () => {};
    const leaving = clientLeaving();
    const gw4 = await gateway((log) => [
      stage('wait', log, (x) => {
        resume = () => continueExchange(x, CONTINUE);
        leaving.waiting(x);
        return TAKEN;
      }),
      stage('never', log, answer(200)),
    ]);
    await leaving.leave(gw4.url);
    resume();
    await expect.poll(() => gw4.ended).toEqual([{ status: 499, error: 'client-gone', log: ['enter wait', 'leave wait 499'] }]);
  });

  it('a stage that waits without a promise and then fails ends with 500 (failExchange), or when its later verdict rejects', async () => {
    const gw = await gateway((log) => [
      stage('a', log),
      stage('b', log, (x) => {
        setImmediate(() => failExchange(x, new Error('store receiver bug')));
        return TAKEN;
      }),
    ]);
    expect((await fetch(`${gw.url}/x`)).status).toBe(500);
    await expect
      .poll(() => gw.ended)
      .toEqual([{ status: 500, error: 'internal', log: ['enter a', 'enter b', 'leave b 500', 'leave a 500'] }]);
    expect(gw.failures).toHaveLength(1);

    const gw2 = await gateway((log) => [
      stage('b', log, (x) => {
        setImmediate(() => continueExchange(x, Promise.reject(new Error('late bug'))));
        return TAKEN;
      }),
    ]);
    expect((await fetch(`${gw2.url}/x`)).status).toBe(500);
    await expect.poll(() => gw2.ended).toEqual([{ status: 500, error: 'internal', log: ['enter b', 'leave b 500'] }]);
  });

  it('ends with 500 when the chain has no stage that answers', async () => {
    const gw = await gateway((log) => [stage('a', log)]);
    expect((await fetch(`${gw.url}/x`)).status).toBe(500);
    expect(gw.ended[0]).toMatchObject({ status: 500, error: 'internal' });
  });
});

/** A backend of one endpoint at `port`, without a CircuitBreakerPolicy. */
function backendAt(port: number): Backend {
  const origin = `http://127.0.0.1:${port}`;
  const pool = new Pool(origin);
  pools.push(pool);
  const time = new ManualTime(0);
  const guard = new BackendGuard(
    { id: 'ns/upstream:80', service: { namespace: 'ns', name: 'upstream', port: 80 }, endpoints: [], policies: [] },
    { clock: time, timers: time, random: () => 0, prober: { probe: () => {}, close: async () => {} }, events: NO_EVENTS },
  );
  return new GuardedBackend('ns/upstream:80', [{ origin, pool }], guard);
}

const sender = (time: ManualTime) =>
  new BackendSender({
    call: { maxBodyBytes: 1024, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 },
    stopwatch: time,
    clock: time,
    timers: time,
    random: () => 0,
    headers: headerPolicy([]),
  });

const ROUTE = {
  id: 'ns/r/rule-0',
  route: { namespace: 'ns', name: 'r' },
  ruleIndex: 0,
  listeners: ['http'],
  hostnames: [],
  matches: [{ path: { type: 'PathPrefix' as const, value: '/' }, headers: [], queryParams: [] }],
  backends: [{ backend: 'ns/upstream:80', weight: 1 }],
  unresolvedWeight: 0,
};

describe('chain runner with the proxy stage', () => {
  it('leave sees the upstream outcome: status, timing and endpoint', async () => {
    const upstream = await listen((_req, res) => res.end('ok'));
    const seen: { status: number; backend?: string; endpoint?: string; timed: boolean }[] = [];
    const observer: Stage = {
      name: 'observer',
      enter: () => CONTINUE,
      leave: (x) =>
        seen.push({
          status: x.status,
          ...(x.backend ? { backend: x.backend } : {}),
          ...(x.endpoint ? { endpoint: x.endpoint } : {}),
          timed: x.upstreamHead >= x.upstreamStart && x.upstreamEnd >= x.upstreamHead && x.upstreamEnd > 0,
        }),
    };
    const time = new ManualTime(5);
    const proxy = new ProxyStage(ROUTE, {
      backends: new Map([['ns/upstream:80', backendAt(upstream)]]),
      call: { maxBodyBytes: 1024, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 },
      random: () => 0,
      sender: sender(time),
    });
    const gw = await gateway(() => [observer, proxy]);
    expect(await (await fetch(`${gw.url}/x`)).text()).toBe('ok');
    await expect
      .poll(() => seen)
      .toEqual([{ status: 200, backend: 'ns/upstream:80', endpoint: `http://127.0.0.1:${upstream}`, timed: true }]);
  });

  it('leave sees a refused connection as 502 connect', async () => {
    const errors: (string | undefined)[] = [];
    const observer: Stage = { name: 'observer', enter: () => CONTINUE, leave: (x) => errors.push(`${x.status} ${x.error}`) };
    const proxy = new ProxyStage(ROUTE, {
      backends: new Map([['ns/upstream:80', backendAt(1)]]),
      call: { maxBodyBytes: 1024, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 },
      random: () => 0,
      sender: sender(new ManualTime(0)),
    });
    const gw = await gateway(() => [observer, proxy]);
    expect((await fetch(`${gw.url}/x`)).status).toBe(502);
    await expect.poll(() => errors).toEqual(['502 connect']);
  });
});
