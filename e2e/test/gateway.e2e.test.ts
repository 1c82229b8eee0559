/**
 * The gateway as separate processes on loopback, with a real Redis: distributed accuracy across
 * four replicas, all-or-nothing levels, Redis going away and coming back, bad input, hot keys.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clock } from '../src/clock.js';
import { eventually } from '../src/cluster.js';
import { freePort } from '../src/envtest/ports.js';
import { standaloneConfig, startGateway, startUpstream, type GatewayProcess } from '../src/gateway.js';
import { stopChild, trackChild } from '../src/util/processes.js';

const route = (name: string, path: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: e2e }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: Exact, value: ${path} } }], backendRefs: [{ name: upstream, port: 80 }] }]`;

const policy = (name: string, target: string, spec: string) => `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: ${name}, namespace: e2e }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${target} }]
${spec}`;

let upstream: Awaited<ReturnType<typeof startUpstream>>;
const gateways: GatewayProcess[] = [];
const children: ChildProcess[] = [];
/** Config folders made by configDir(), removed in afterAll. */
const configDirs: string[] = [];

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  trackChild(child);
  children.push(child);
  await eventually(
    'redis-server up',
    async () => {
      const { Redis } = await import('ioredis');
      const r = new Redis({ port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => {});
      try {
        await r.connect();
        return (await r.ping()) === 'PONG' ? true : undefined;
      } finally {
        r.disconnect();
      }
    },
    10_000,
    100,
  );
  return child;
}

function configDir(yamlText: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-gw-e2e-'));
  configDirs.push(dir);
  writeFileSync(join(dir, 'config.yaml'), yamlText);
  return dir;
}

async function fire(urls: readonly string[], total: number, concurrency: number, init?: RequestInit): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const res = await fetch(urls[i % urls.length] ?? '', init);
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

beforeAll(async () => {
  upstream = await startUpstream();
});

afterAll(async () => {
  for (const g of gateways) await g.stop();
  for (const c of children) await stopChild(c, 5000);
  await upstream.close();
  for (const dir of configDirs) rmSync(dir, { recursive: true, force: true });
});

describe('distributed limits on one Redis', () => {
  let redisPort: number;
  let replicas: GatewayProcess[] = [];

  beforeAll(async () => {
    redisPort = await freePort();
    await startRedis(redisPort);
    const rate = '{ requests: 100, per: 1h }';
    // These tests count what Redis decides: a check that waits past the default 50 ms on a busy
    // machine must not be admitted by the Open failure mode. They fail Closed (so readiness also
    // waits for Redis) and wait up to 5 s, which the replicas allow with --redis-timeout.
    const strict = '  failureMode: { mode: Closed, timeout: 5s }\n';
    const yamlText = standaloneConfig(
      upstream.port,
      [
        route('tb', '/tb'),
        route('gcra', '/gcra'),
        route('sw', '/sw'),
        route('levels', '/levels'),
        policy('tb', 'tb', `${strict}  limits: [{ name: all, scope: Route, algorithm: TokenBucket, rate: ${rate}, burst: 100 }]`),
        policy('gcra', 'gcra', `${strict}  limits: [{ name: all, scope: Route, algorithm: GCRA, rate: ${rate}, burst: 100 }]`),
        policy('sw', 'sw', `${strict}  limits: [{ name: all, scope: Route, algorithm: SlidingWindow, rate: ${rate} }]`),
        policy(
          'levels',
          'levels',
          `${strict}  limits:
    - { name: global, scope: Route, rate: { requests: 1000, per: 1h }, burst: 1000 }
    - { name: user, scope: Header, header: x-user, rate: { requests: 1000, per: 1h }, burst: 1000 }
    - { name: tenant, scope: Header, header: x-tenant, rate: { requests: 5, per: 1h }, burst: 5 }`,
        ),
      ].join('\n---\n'),
    );
    const dir = configDir(yamlText);
    replicas = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        startGateway({
          name: `replica-${i}`,
          args: ['--config', dir, '--redis', `redis://127.0.0.1:${redisPort}`, '--redis-timeout', '5s'],
        }),
      ),
    );
    gateways.push(...replicas);
  });

  it.each([
    ['TokenBucket', '/tb'],
    ['GCRA', '/gcra'],
    ['SlidingWindow', '/sw'],
  ])('%s: 4 replicas and 50 concurrent clients admit exactly the limit of 100', async (_algorithm, path) => {
    const statuses = await fire(
      replicas.map((g) => `${g.url}${path}`),
      400,
      50,
    );
    expect(Object.fromEntries(statuses)).toEqual({ 200: 100, 429: 300 });
  });

  it('a request rejected at the tenant level consumes nothing at the user and global levels', async () => {
    const urls = replicas.map((g) => `${g.url}/levels`);
    const statuses = await fire(urls, 20, 4, { headers: { 'x-tenant': 'acme', 'x-user': 'u1' } });
    expect(Object.fromEntries(statuses)).toEqual({ 200: 5, 429: 15 });
    const res = await fetch(urls[0] ?? '', { headers: { 'x-tenant': 'globex', 'x-user': 'u1' } });
    expect(res.status).toBe(200);
    const header = res.headers.get('ratelimit') ?? '';
    // 5 admitted before + this one: 994 left, not 979 — the 15 rejections charged nothing.
    expect(header).toContain('"user";r=994');
    expect(header).toContain('"global";r=994');
  });

  it('decides each request in one Redis round trip, whatever the number of levels; concurrent requests share one', async () => {
    const counts = async () => {
      const read = (name: string, labels?: Record<string, string>) => Promise.all(replicas.map((g) => g.metric(name, labels)));
      const sum = (xs: (number | undefined)[]) => xs.reduce<number>((n, x) => n + (x ?? 0), 0);
      return {
        trips: sum(await read('jarvis_gateway_redis_round_trips_total')),
        checks: sum(await read('jarvis_gateway_redis_checks_total')),
        timed: sum(await read('jarvis_gateway_redis_duration_seconds_count', { outcome: 'ok' })),
      };
    };
    const headers = { 'x-tenant': 'initech', 'x-user': 'u2' };
    // One after another: one EVALSHA per request (four levels each).
    const before = await counts();
    await fire([`${replicas[0]?.url ?? ''}/levels`], 10, 1, { headers });
    const sequential = await counts();
    expect(sequential.checks - before.checks).toBe(10);
    expect(sequential.trips - before.trips).toBe(10);
    expect(sequential.timed - before.timed).toBe(10); // and each one's latency is in the histogram
    // Concurrent: still one check per request, never more round trips than requests.
    await fire(
      replicas.map((g) => `${g.url}/levels`),
      40,
      8,
      { headers },
    );
    const after = await counts();
    expect(after.checks - sequential.checks).toBe(40);
    expect(after.trips - sequential.trips).toBeGreaterThanOrEqual(40 / 8);
    expect(after.trips - sequential.trips).toBeLessThanOrEqual(40);
    expect(after.timed - sequential.timed).toBe(after.trips - sequential.trips);
  });
});

describe('Redis going away in the middle of a load run', () => {
  it('open serves, closed answers 503 quickly, local keeps limiting; distributed limiting resumes by itself', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const yamlText = standaloneConfig(
      upstream.port,
      [
        route('open', '/open'),
        route('closed', '/closed'),
        route('local', '/local'),
        policy(
          'open',
          'open',
          `  failureMode: { mode: Open, timeout: 100ms }\n  limits: [{ name: all, scope: Route, rate: { requests: 100000, per: 1h }, burst: 100000 }]`,
        ),
        policy(
          'closed',
          'closed',
          `  failureMode: { mode: Closed, timeout: 100ms }\n  limits: [{ name: all, scope: Route, rate: { requests: 100000, per: 1h }, burst: 100000 }]`,
        ),
        policy(
          'local',
          'local',
          `  failureMode: { mode: Local, timeout: 100ms, expectedReplicas: 2 }\n  limits: [{ name: all, scope: Route, rate: { requests: 20, per: 1h }, burst: 20 }]`,
        ),
      ].join('\n---\n'),
    );
    const gw = await startGateway({ name: 'redis-chaos', args: ['--config', configDir(yamlText), '--redis', `redis://127.0.0.1:${port}`] });
    gateways.push(gw);
    expect((await fire([`${gw.url}/open`], 20, 4)).get(200)).toBe(20);

    await stopChild(redis, 5000);
    const timed = async (path: string) => {
      const t0 = clock.now();
      const res = await fetch(`${gw.url}${path}`);
      await res.arrayBuffer();
      return { status: res.status, ms: clock.now() - t0 };
    };
    const open = await Promise.all(Array.from({ length: 20 }, () => timed('/open')));
    const closed = await Promise.all(Array.from({ length: 20 }, () => timed('/closed')));
    const local: number[] = [];
    for (let i = 0; i < 15; i++) local.push((await timed('/local')).status);
    expect(open.every((r) => r.status === 200)).toBe(true);
    expect(closed.every((r) => r.status === 503)).toBe(true);
    expect(Math.max(...open.map((r) => r.ms), ...closed.map((r) => r.ms))).toBeLessThan(1000);
    expect(local.filter((s) => s === 200)).toHaveLength(10); // 20 / expectedReplicas 2
    expect(local.filter((s) => s === 429)).toHaveLength(5);

    await startRedis(port);
    await eventually(
      'closed route served again once Redis is back',
      async () => ((await timed('/closed')).status === 200 ? true : undefined),
      20_000,
      250,
    );
    expect(await gw.metric('jarvis_gateway_ratelimit_failure_mode', { mode: 'redis' })).toBeGreaterThan(0);
  });
});

describe('bad input', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    const yamlText = standaloneConfig(
      upstream.port,
      [
        route('per-ip', '/per-ip'),
        route('keyed', '/keyed'),
        policy('per-ip', 'per-ip', `  store: Memory\n  limits: [{ name: ip, scope: ClientIP, rate: { requests: 3, per: 1h }, burst: 3 }]`),
        policy(
          'keyed',
          'keyed',
          `  store: Memory\n  limits: [{ name: key, scope: Header, header: x-key, rate: { requests: 2, per: 1h }, burst: 2 }]`,
        ),
      ].join('\n---\n'),
    );
    gw = await startGateway({ name: 'bad-input', args: ['--config', configDir(yamlText), '--max-body-bytes', '1024'] });
    gateways.push(gw);
  });

  const problem = async (res: Response) => ({
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as Record<string, unknown>,
  });

  it('answers oversized bodies with 413 and oversized headers with 431, as problem+json', async () => {
    const big = await problem(await fetch(`${gw.url}/api/x`, { method: 'POST', body: 'x'.repeat(5000) }));
    expect(big).toMatchObject({ status: 413, type: 'application/problem+json' });
    const chunked = await fetch(`${gw.url}/api/x`, {
      method: 'POST',
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('y'.repeat(500)));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const headers = await fetch(`${gw.url}/api/x`, { headers: { 'x-big': 'z'.repeat(20_000) } });
    expect(headers.status).toBe(431);
    expect((await fetch(`${gw.url}/api/x`)).status).toBe(200); // still serving
  });

  it('ignores spoofed X-Forwarded-For and x-tenant-id from an untrusted peer: no way around a limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${gw.url}/per-ip`, { headers: { 'x-forwarded-for': `203.0.113.${i}`, 'x-tenant-id': `t${i}` } });
      statuses.push(res.status);
      if (res.status === 200)
        expect(((await res.json()) as { tenant: string | null }).tenant).toBeNull(); // the spoofed header never reaches the upstream
      else await res.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
  });

  it('keys odd Unicode safely and still limits it', async () => {
    const odd = 'ｔｅｎａｎｔ\u202e🙂'.repeat(40);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${gw.url}/keyed`, { headers: { 'x-key': encodeURIComponent(odd) } })).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect((await fetch(`${gw.url}/keyed`, { headers: { 'x-key': 'other' } })).status).toBe(200);
  });

  it('answers an unknown path with a 404 problem', async () => {
    expect(await problem(await fetch(`${gw.url}/nowhere`))).toMatchObject({ status: 404, type: 'application/problem+json' });
  });

  it('counts every request once by status, times every one, and leaves none in flight', async () => {
    const read = async () => {
      const m = async (name: string, labels?: Record<string, string>) => (await gw.metric(name, labels)) ?? 0;
      return {
        all: await m('jarvis_gateway_requests_total'),
        ok: await m('jarvis_gateway_requests_total', { status: '200' }),
        notFound: await m('jarvis_gateway_requests_total', { status: '404', route: 'none' }),
        tooLarge: await m('jarvis_gateway_requests_total', { status: '413' }),
        limited: await m('jarvis_gateway_requests_total', { status: '429' }),
        timed: await m('jarvis_gateway_request_duration_seconds_count'),
        inf: await m('jarvis_gateway_request_duration_seconds_bucket', { le: '+Inf' }),
        seconds: await m('jarvis_gateway_request_duration_seconds_sum'),
      };
    };
    const before = await read();
    const drain = async (res: Response) => void (await res.arrayBuffer());
    for (let i = 0; i < 3; i++) await drain(await fetch(`${gw.url}/api/y`));
    await drain(await fetch(`${gw.url}/nowhere`));
    await drain(await fetch(`${gw.url}/api/x`, { method: 'POST', body: 'x'.repeat(5000) }));
    for (let i = 0; i < 3; i++) await drain(await fetch(`${gw.url}/keyed`, { headers: { 'x-key': 'metrics-test' } }));
    const after = await read();
    expect({
      all: after.all - before.all,
      ok: after.ok - before.ok,
      notFound: after.notFound - before.notFound,
      tooLarge: after.tooLarge - before.tooLarge,
      limited: after.limited - before.limited,
      timed: after.timed - before.timed,
      inf: after.inf - before.inf,
    }).toEqual({ all: 8, ok: 5, notFound: 1, tooLarge: 1, limited: 1, timed: 8, inf: 8 });
    // Timed with the monotonic clock: loopback requests take well under a second, yet not zero.
    expect(after.seconds - before.seconds).toBeGreaterThan(0);
    expect(after.seconds - before.seconds).toBeLessThan(8);
    expect(await gw.metric('jarvis_gateway_in_flight_requests')).toBe(0);
  });
});

describe('hot keys', () => {
  it('a flooding tenant shows in /admin/hotkeys, gets the stricter limit, and drops back after it cools', async () => {
    const yamlText = standaloneConfig(
      upstream.port,
      [
        route('hot', '/hot'),
        policy(
          'hot',
          'hot',
          `  store: Memory
  limits: [{ name: tenant, scope: Header, header: x-tenant, rate: { requests: 100000, per: 1s }, burst: 100000 }]
  hotspot:
    parameters: [{ source: Header, name: x-tenant }]
    window: 2s
    minRequests: 50
    activateSharePercent: 50
    deactivateSharePercent: 20
    cooldown: 2s
    limit: { rate: { requests: 5, per: 1s }, burst: 5 }`,
        ),
      ].join('\n---\n'),
    );
    const gw = await startGateway({ name: 'hotkeys', args: ['--config', configDir(yamlText)] });
    gateways.push(gw);
    const send = (tenant: string) =>
      fetch(`${gw.url}/hot`, { headers: { 'x-tenant': tenant } }).then(async (r) => (await r.arrayBuffer(), r.status));
    const statuses: number[] = [];
    for (let i = 0; i < 300; i++) statuses.push(await send(i % 10 === 0 ? `quiet-${i}` : 'flood'));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    const hot = (await fetch(`${gw.adminUrl}/admin/hotkeys`).then((r) => r.json())) as { value: string; hot: boolean }[];
    expect(hot).toEqual(expect.arrayContaining([expect.objectContaining({ value: 'flood', hot: true })]));
    expect(await send('quiet-x')).toBe(200);
    // Cools: with no traffic for longer than window + cooldown it is no longer hot.
    const floodHot = async () => {
      const keys = (await fetch(`${gw.adminUrl}/admin/hotkeys`).then((r) => r.json())) as { value: string; hot: boolean }[];
      return keys.find((k) => k.value === 'flood')?.hot ?? false;
    };
    await expect.poll(floodHot, { timeout: 15_000, interval: 250 }).toBe(false);
    expect(await send('flood')).toBe(200);
  });
});

describe('LLM calls: the body is inspected where a policy needs it', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    const yamlText = standaloneConfig(
      upstream.port,
      [
        route('tokens', '/v1/chat/completions'),
        route('models', '/v1/completions'),
        policy(
          'tokens',
          'tokens',
          `  store: Memory
  limits: [{ name: prompt-tokens, scope: Header, header: x-team, rate: { requests: 100, per: 1h }, burst: 100, cost: { llmTokens: Input } }]`,
        ),
        policy(
          'models',
          'models',
          `  store: Memory
  limits: [{ name: all, scope: Global, rate: { requests: 100000, per: 1s }, burst: 100000 }]
  hotspot:
    parameters: [{ source: Model }, { source: PromptHash }]
    window: 10s
    minRequests: 20
    activateSharePercent: 50
    deactivateSharePercent: 20
    cooldown: 10s
    limit: { rate: { requests: 3, per: 1h }, burst: 3 }`,
        ),
      ].join('\n---\n'),
    );
    gw = await startGateway({ name: 'llm-body', args: ['--config', configDir(yamlText), '--inspect-body-bytes', '4096'] });
    gateways.push(gw);
  });

  const chat = (body: string, team = 'red') =>
    fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-team': team }, body });

  it('answers malformed JSON with a 400 problem, and a body over the inspection limit with 413', async () => {
    const bad = await chat('{"model": "gpt-4", "messages": [');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/not valid JSON/);
    const big = await chat(JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }));
    expect(big.status).toBe(413);
    await big.arrayBuffer();
  });

  it('charges the estimated prompt tokens, and forwards the body it read unchanged', async () => {
    const prompt = 'y'.repeat(240); // 60 tokens at 4 characters per token
    const body = JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: prompt }] });
    const first = await chat(body, 'blue');
    expect(first.status).toBe(200);
    const echoed = (await first.json()) as { method: string; body: string };
    expect(echoed.body).toBe(body); // the upstream got exactly what the client sent
    expect(first.headers.get('ratelimit')).toContain('"prompt-tokens";r=40');
    const second = await chat(body, 'blue'); // 60 more than the 40 left: refused, nothing charged
    expect(second.status).toBe(429);
    await second.arrayBuffer();
    const small = await chat(JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'z'.repeat(40) }] }), 'blue');
    expect(small.status).toBe(200); // 10 tokens still fit
    await small.arrayBuffer();
  });

  it('finds a flooded model and prompt among the hot keys and limits them while they stay hot', async () => {
    const complete = (model: string, prompt: string) =>
      fetch(`${gw.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, prompt, max_tokens: 16 }),
      }).then(async (r) => (await r.arrayBuffer(), r.status));
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++)
      statuses.push(await complete(i % 6 === 0 ? `other-${i}` : 'llama-70b', i % 6 === 0 ? `q${i}` : 'same prompt'));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    const hot = (await fetch(`${gw.adminUrl}/admin/hotkeys`).then((r) => r.json())) as { parameter: string; value: string; hot: boolean }[];
    expect(hot).toEqual(expect.arrayContaining([expect.objectContaining({ parameter: 'Model', value: 'llama-70b', hot: true })]));
    expect(hot.some((k) => k.parameter === 'PromptHash' && k.hot)).toBe(true);
    expect(await complete('rare-model', 'a fresh question')).toBe(200);
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM finishes in-flight requests, refuses new ones, and exits 0', async () => {
    let arrived!: () => void;
    const upstreamHasIt = new Promise<void>((r) => (arrived = r));
    const slow = http.createServer((_req, res) => {
      arrived();
      setTimeout(() => res.end('done'), 1000);
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const slowPort = (slow.address() as AddressInfo).port;
    const gw = await startGateway({ name: 'drain', args: ['--config', configDir(standaloneConfig(slowPort)), '--drain-timeout', '5s'] });
    gateways.push(gw); // stopped by the test itself; afterAll's stop() then only removes its folder
    const inFlight = fetch(`${gw.url}/api/slow`).then(async (r) => ({ status: r.status, body: await r.text() }));
    await upstreamHasIt; // the request is in flight through the gateway
    const exited = new Promise<number | null>((r) => gw.child.once('exit', (code) => r(code)));
    gw.child.kill('SIGTERM');
    expect(await inFlight).toEqual({ status: 200, body: 'done' });
    expect(await exited).toBe(0);
    await expect(fetch(`${gw.url}/api/x`)).rejects.toThrow();
    slow.closeAllConnections();
    await new Promise((r) => slow.close(r));
  });
});
