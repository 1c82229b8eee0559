/**
 * The upstream call through the proxy stage, on real node:http servers: streaming, backpressure,
 * client disconnects, timeouts, refused connections — and an answer taken back before commit.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import { sendProblem } from '../observe/problem.js';
import { Exchange, type ExchangeHooks } from '../pipeline/exchange.js';
import { endExchange, run } from '../pipeline/runner.js';
import { TAKEN, type Stage } from '../pipeline/stage.js';
import { dispatchCall, type CallError, type CallOwner, type UpstreamCall } from './call.js';
import { CallWatch } from './watch.js';
import { headerPolicy, upstreamHeaders } from './headers.js';
import { BackendGuard, NO_EVENTS } from '../policy/breaker/index.js';
import { BackendSender } from './send.js';
import { ProxyStage, answerCallError } from './stage.js';
import { GuardedBackend } from './upstreams.js';

const servers: http.Server[] = [];
const pools: Pool[] = [];

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

function poolAt(port: number): { origin: string; pool: Pool } {
  const origin = `http://127.0.0.1:${port}`;
  const pool = new Pool(origin);
  pools.push(pool);
  return { origin, pool };
}

/** A gateway running `chain` for every request; `results` gets each exchange's outcome. */
async function gatewayWith(chain: Stage[]) {
  const results: { status: number; error?: string }[] = [];
  const hooks: ExchangeHooks = {
    ended: (x) => results.push({ status: x.status, ...(x.error ? { error: x.error } : {}) }),
    failed: (x) => sendProblem(x.res, 500, 'internal', 'Internal error', 'failed'),
  };
  const clock = new ManualTime(0);
  const port = await listen((req, res) => run(new Exchange(req, res, chain, clock.now(), hooks)));
  return { url: `http://127.0.0.1:${port}`, results };
}

/** A proxy in front of `upstreamPort`, through the proxy stage the way every route ends. */
async function proxy(
  upstreamPort: number,
  options = { maxBodyBytes: 1024, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 },
  before: Stage[] = [],
) {
  const endpoint = poolAt(upstreamPort);
  // The stopwatch reads 1000 until a test moves it on (time.advance).
  const time = new ManualTime(1000);
  const guard = new BackendGuard(
    { id: 'ns/up:80', service: { namespace: 'ns', name: 'up', port: 80 }, endpoints: [], policies: [] },
    { clock: time, timers: time, random: () => 0, prober: { probe: () => {}, close: async () => {} }, events: NO_EVENTS },
  );
  const backend = new GuardedBackend('ns/up:80', [endpoint], guard);
  const stage = new ProxyStage(
    {
      id: 'ns/r/rule-0',
      route: { namespace: 'ns', name: 'r' },
      ruleIndex: 0,
      listeners: ['http'],
      hostnames: [],
      matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
      backends: [{ backend: 'ns/up:80', weight: 1 }],
      unresolvedWeight: 0,
    },
    {
      backends: new Map([['ns/up:80', backend]]),
      call: options,
      random: () => 0,
      sender: new BackendSender({ call: options, headers: headerPolicy([]), stopwatch: time, clock: time, timers: time, random: () => 0 }),
    },
  );
  return { ...(await gatewayWith([...before, stage])), time };
}

afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('upstream call through the proxy stage', () => {
  it('streams SSE chunks to the client as the upstream produces them', async () => {
    let release: () => void = () => {};
    const upstreamPort = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      release = () => res.end('data: [DONE]\n\n');
    });
    const { url } = await proxy(upstreamPort);
    const res = await fetch(`${url}/v1/chat/completions`);
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(new TextDecoder().decode(first?.value)).toBe('data: first\n\n'); // arrived before the upstream finished
    release();
    const rest = await reader?.read();
    expect(new TextDecoder().decode(rest?.value)).toBe('data: [DONE]\n\n');
  });

  it('aborts the upstream call when the client goes away', async () => {
    let upstreamClosed: () => void = () => {};
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    const upstreamPort = await listen((req, res) => {
      res.writeHead(200);
      res.write('partial');
      req.socket.on('close', () => upstreamClosed());
    });
    const { url } = await proxy(upstreamPort);
    const controller = new AbortController();
    const res = await fetch(`${url}/slow`, { signal: controller.signal });
    await res.body?.getReader().read();
    controller.abort();
    await closed; // the test times out if the upstream connection is left open
  });

  it('aborts the upstream call when the client goes away before the upstream answered', async () => {
    let upstreamClosed: () => void = () => {};
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    let arrived: () => void = () => {};
    const reached = new Promise<void>((r) => (arrived = r));
    const upstreamPort = await listen((req) => {
      req.socket.on('close', () => upstreamClosed());
      arrived(); // and never answers
    });
    const { url, results } = await proxy(upstreamPort);
    const controller = new AbortController();
    const pending = fetch(`${url}/think`, { signal: controller.signal }).catch(() => undefined);
    await reached;
    controller.abort();
    await pending;
    await closed; // the test times out if the upstream connection is left open
    await expect.poll(() => results).toEqual([{ status: 499, error: 'client-gone' }]);
  });

  it('holds the upstream back while the client does not read, then delivers every byte', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const chunks = 512; // 32 MiB: far more than the socket buffers on both hops hold
    let written = 0;
    let blocked: () => void = () => {};
    const firstBlock = new Promise<void>((r) => (blocked = r));
    const upstreamPort = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = (): void => {
        while (written < chunks) {
          written++;
          if (!res.write(chunk)) {
            blocked();
            return void res.once('drain', pump);
          }
        }
        res.end();
      };
      pump();
    });
    const { url, results, time } = await proxy(upstreamPort);
    const response = await new Promise<http.IncomingMessage>((resolve) => http.get(`${url}/big`, resolve));
    response.pause(); // a client that reads nothing for now
    await firstBlock;
    await new Promise((r) => setTimeout(r, 200)); // without backpressure the proxy would drain the upstream meanwhile
    expect(written).toBeLessThan(chunks / 2);
    // The upstream is silent because the client does not read: no body timeout (5 s) meanwhile.
    for (let t = 0; t < 20_000; t += 500) time.advance(500);
    let received = 0;
    response.on('data', (c: Buffer) => (received += c.length));
    response.resume();
    await new Promise((r) => response.on('end', r));
    expect(received).toBe(chunk.length * chunks);
    await expect.poll(() => results).toEqual([{ status: 200 }]);
  });

  it('answers 504 problem+json when the upstream sends no head within the headers timeout (injected time)', async () => {
    let arrived = 0;
    const upstreamPort = await listen(() => void arrived++);
    const { url, time, results } = await proxy(upstreamPort, { maxBodyBytes: 1024, headersTimeoutMs: 2000, bodyTimeoutMs: 60_000 });
    const answer = fetch(`${url}/hang`);
    await expect.poll(() => arrived).toBe(1);
    // Looks every 2000 / 8 = 250 ms: not at 1750 ms of silence since the request went out...
    for (let t = 0; t < 1750; t += 250) time.advance(250);
    await new Promise((r) => setImmediate(r));
    expect(results).toEqual([]);
    // ...at the first look from 2000 ms on.
    time.advance(250);
    const res = await answer;
    expect(res.status).toBe(504);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    await expect.poll(() => results).toEqual([{ status: 504, error: 'timeout' }]);
  });

  it('cuts a committed answer whose body pauses longer than the body timeout (injected time)', async () => {
    let more: (() => void) | undefined;
    const upstreamPort = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first ');
      more = () => res.write('second ');
    });
    const { url, time, results } = await proxy(upstreamPort, { maxBodyBytes: 1024, headersTimeoutMs: 60_000, bodyTimeoutMs: 800 });
    const res = await fetch(`${url}/stream`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first ');
    // A chunk within the limit keeps the call alive (period 100 ms).
    for (let t = 0; t < 700; t += 100) time.advance(100);
    more!();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('second ');
    for (let t = 0; t < 700; t += 100) time.advance(100);
    expect(results).toEqual([]);
    for (let t = 0; t < 300; t += 100) time.advance(100);
    await expect(reader.read()).rejects.toThrow();
    await expect.poll(() => results).toEqual([{ status: 200, error: 'timeout' }]);
  });

  it('a queue deadline bounds the wait for the upstream, which learns it in x-jarvis-deadline (a client cannot set it)', async () => {
    const seen: (string | undefined)[] = [];
    const upstreamPort = await listen((req) => seen.push(req.headers['x-jarvis-deadline'] as string | undefined));
    // What the queue stage leaves on an admitted request: 150 ms left (stopwatch), and the Unix time.
    const deadline: Stage = {
      name: 'deadline',
      enter: (x) => {
        x.deadline = 1150; // the stopwatch reads 1000
        x.deadlineUnixMs = 1_700_000_000_150;
        return 0;
      },
    };
    const { url, results, time } = await proxy(upstreamPort, { maxBodyBytes: 1024, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 }, [
      deadline,
    ]);
    const answer = fetch(`${url}/slow`, { headers: { 'x-jarvis-deadline': '9999999999999' }, signal: AbortSignal.timeout(10_000) });
    await expect.poll(() => seen.length).toBe(1);
    time.advance(149);
    time.advance(1); // the deadline: the upstream never answered
    const res = await answer;
    expect(res.status).toBe(504);
    expect(seen).toEqual(['1700000000150']);
    await expect.poll(() => results).toEqual([{ status: 504, error: 'timeout' }]);
  });

  it("sends the headers a stage set for the upstream (the feature toggles' state), replacing the client's own", async () => {
    const seen: (string | undefined)[] = [];
    const upstreamPort = await listen((req, res) => {
      seen.push(req.headers['x-app-features'] as string | undefined);
      res.end('ok');
    });
    const toggles: Stage = {
      name: 'toggles',
      enter: (x) => {
        x.addUpstreamHeaders({ 'x-app-features': 'rerank=off' });
        return 0;
      },
    };
    const { url } = await proxy(upstreamPort, undefined, [toggles]);
    const res = await fetch(`${url}/x`, { headers: { 'x-app-features': 'rerank=on' } });
    expect(await res.text()).toBe('ok');
    expect(seen).toEqual(['rerank=off']);
  });

  it('does not send a request whose queue deadline passed since it was admitted', async () => {
    let seen = 0;
    const upstreamPort = await listen((_req, res) => (seen++, res.end('late')));
    const passed: Stage = {
      name: 'deadline',
      enter: (x) => {
        x.deadline = 500; // the stopwatch reads 1000
        x.deadlineUnixMs = 1;
        return 0;
      },
    };
    const { url } = await proxy(upstreamPort, undefined, [passed]);
    const res = await fetch(`${url}/x`);
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ type: expect.stringContaining('deadline-exceeded') });
    expect(seen).toBe(0);
  });

  it('answers 502 when the upstream refuses connections', async () => {
    const { url } = await proxy(1);
    expect((await fetch(`${url}/x`)).status).toBe(502);
  });

  it('answers 413 when a streamed body goes over the limit', async () => {
    const upstreamPort = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const { url, results } = await proxy(upstreamPort);
    const res = await fetch(`${url}/upload`, {
      method: 'POST',
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(512));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    await expect.poll(() => results).toEqual([{ status: 413, error: 'body-too-large' }]);
  });

  it('takes an answer back before commit: the first head is discarded and another upstream answers', async () => {
    const failing = await listen((_req, res) => res.writeHead(503, { 'x-from': 'failing' }).end('overloaded'));
    const healthy = await listen((_req, res) => res.writeHead(200, { 'x-from': 'healthy' }).end('fine'));
    const targets = [poolAt(failing), poolAt(healthy)];
    const heads: number[] = [];
    /** Commits the first answer that is not a 5xx; tries the next target otherwise. */
    class Retrying implements Stage, CallOwner {
      readonly name = 'retrying';
      enter(x: Exchange): typeof TAKEN {
        this.#send(x, 0);
        return TAKEN;
      }
      #send(x: Exchange, i: number): void {
        const t = targets[i]!;
        const request = {
          method: x.method,
          path: x.url,
          headers: upstreamHeaders(x.req.headers, x, headerPolicy([])),
          body: undefined,
          streamBody: false,
        };
        const options = { maxBodyBytes: 1024, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 };
        const time = new ManualTime(0);
        const call = dispatchCall(x, t.pool, t.origin, request, options, this, time, new CallWatch(options, time, time));
        (call as UpstreamCall & { index: number }).index = i;
      }
      head(_call: UpstreamCall, status: number): boolean {
        heads.push(status);
        return status < 500;
      }
      end(call: UpstreamCall, error: CallError | undefined): void {
        const i = (call as UpstreamCall & { index: number }).index;
        if (error?.kind === 'discarded' && i + 1 < targets.length) return this.#send(call.x, i + 1);
        if (error) answerCallError(call.x, call, error, { maxBodyBytes: 1024, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
        else call.x.status = call.status;
        endExchange(call.x);
      }
    }
    const { url, results } = await gatewayWith([new Retrying()]);
    const res = await fetch(`${url}/x`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-from')).toBe('healthy'); // nothing of the discarded answer reached the client
    expect(await res.text()).toBe('fine');
    expect(heads).toEqual([503, 200]);
    await expect.poll(() => results).toEqual([{ status: 200 }]);
  });

  const client = {
    connection: 'keep-alive, x-secret',
    'keep-alive': 'timeout=5',
    'x-secret': 's',
    te: 'trailers',
    expect: '100-continue',
    'x-forwarded-for': '1.2.3.4',
    forwarded: 'for=1.2.3.4',
    'x-real-ip': '1.2.3.4',
    'x-forwarded-host': 'evil.example',
    accept: 'text/plain',
    'x-user-id': 'spoofed',
    'x-tenant-id': 'spoofed',
    'x-org': 'spoofed-org',
    'x-jarvis-deadline': '1',
    'x-jarvis-features': 'rerank=on',
  };

  it('from an untrusted client: hop-by-hop, Expect, identity and every forwarding header dropped; the peer starts X-Forwarded-For', () => {
    const out = upstreamHeaders(
      client,
      { peer: '10.0.0.1', peerTrusted: false, tenant: 'acme', user: undefined },
      headerPolicy(['x-org', 'x-forwarded-for']),
    );
    expect(out).toEqual({ 'x-forwarded-for': '10.0.0.1', accept: 'text/plain', 'x-tenant-id': 'acme' });
  });

  it('from a trusted proxy: the forwarding chain is kept and the proxy hop appended; identity headers still dropped', () => {
    const out = upstreamHeaders(
      client,
      { peer: '10.0.0.9', peerTrusted: true, tenant: 'acme', user: 'u1' },
      headerPolicy(['x-org', 'x-forwarded-for']),
    );
    expect(out).toEqual({
      'x-forwarded-for': '1.2.3.4, 10.0.0.9',
      forwarded: 'for=1.2.3.4, for=10.0.0.9',
      'x-real-ip': '1.2.3.4',
      'x-forwarded-host': 'evil.example',
      accept: 'text/plain',
      'x-tenant-id': 'acme',
      'x-user-id': 'u1',
    });
    const v6 = upstreamHeaders(
      { forwarded: 'for=1.2.3.4' },
      { peer: '2001:db8::9', peerTrusted: true, tenant: undefined, user: undefined },
      headerPolicy([]),
    );
    expect(v6['forwarded']).toBe('for=1.2.3.4, for="[2001:db8::9]"');
  });
});
