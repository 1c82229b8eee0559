/**
 * The cache stage in a real chain on real node:http servers — inspect → cache → proxy → a
 * counting upstream — with an injected clock: hits never reach the upstream, identical misses
 * share one call, the isolation scope keeps users apart, stale copies cover errors within their
 * bound, invalidation by tag and key, Cache-Control, and state kept across config reloads.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CacheIR, RouteIR } from '@jarvis/api';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualTime, systemTimers, type Timers } from '../../clock.js';
import { BodyBudget } from '../../inspect/budget.js';
import { BodyStage } from '../../inspect/stage.js';
import { sendProblem } from '../../observe/problem.js';
import { Exchange, type ExchangeHooks } from '../../pipeline/exchange.js';
import { run } from '../../pipeline/runner.js';
import { CONTINUE, type Stage } from '../../pipeline/stage.js';
import { headerPolicy } from '../../proxy/headers.js';
import { ProxyStage } from '../../proxy/stage.js';
import { BackendSender } from '../../proxy/send.js';
import { GuardedBackend, type Backend } from '../../proxy/upstreams.js';
import { BackendGuard, NO_EVENTS } from '../breaker/index.js';
import { subscribeInvalidations, type Subscription } from './bus.js';
import { compileKey, keyId } from './key.js';
import { RedisLevel } from './l2.js';
import { CacheRegistry } from './registry.js';
import { CacheStage, POLL_MS, type CacheOutcome } from './stage.js';

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

/** An upstream that counts calls and answers as told (status, headers, held until released). */
interface Upstream {
  port: number;
  calls: number;
  status: number;
  headers: Record<string, string>;
  /** When set, requests wait until `release()`. */
  hold: boolean;
  release(): void;
  /** Body chunks streamed one by one (instead of the JSON answer). */
  chunks?: string[];
}

async function upstream(): Promise<Upstream> {
  const held: (() => void)[] = [];
  const u: Upstream = {
    port: 0,
    calls: 0,
    status: 200,
    headers: {},
    hold: false,
    release: () => {
      for (const h of held.splice(0)) h();
    },
  };
  u.port = await listen((req, res) => {
    const n = ++u.calls;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (): void => {
        if (u.chunks) {
          res.writeHead(u.status, { 'content-type': 'text/plain', ...u.headers });
          const parts = [...u.chunks];
          const next = (): void => {
            const part = parts.shift();
            if (part === undefined) return void res.end();
            res.write(part);
            setImmediate(next);
          };
          return next();
        }
        const body = JSON.stringify({ n, user: req.headers['x-user-id'] ?? null, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(u.status, { 'content-type': 'application/json', 'x-upstream': 'yes', ...u.headers });
        res.end(body);
      };
      if (u.hold) held.push(answer);
      else answer();
    });
  });
  return u;
}

function cacheIR(over: Partial<CacheIR> = {}): CacheIR {
  return {
    namespace: 'ns/cache',
    ttlMs: 60_000,
    methods: ['GET', 'HEAD', 'POST'],
    statuses: [200],
    key: { query: 'All', headers: [], body: true, isolation: 'None' },
    maxBodyBytes: 1 << 20,
    respectCacheControl: true,
    l1: { maxEntries: 1000, maxBytes: 1 << 24, ttlMs: 60_000 },
    l2: { enabled: false, ttlMs: 60_000 },
    coalescing: { enabled: true, maxWaitMs: 5000, acrossReplicas: false },
    invalidation: { tagsHeader: 'x-cache-tags', maxTagsPerEntry: 8, crossInstance: true },
    source: { kind: 'CachePolicy', namespace: 'ns', name: 'cache', generation: 1 },
    ...over,
  };
}

function route(cache: CacheIR): RouteIR {
  return {
    id: 'ns/r/rule-0',
    route: { namespace: 'ns', name: 'r' },
    ruleIndex: 0,
    listeners: ['http'],
    hostnames: [],
    matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
    backends: [{ backend: 'ns/upstream:80', weight: 1 }],
    unresolvedWeight: 0,
    cache,
  };
}

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

/** The identity a real gateway would have verified: here from test headers. */
const identify: Stage = {
  name: 'identify',
  enter(x) {
    const user = x.header('x-test-user');
    const tenant = x.header('x-test-tenant');
    x.identify({
      clientIp: '127.0.0.1',
      peer: '127.0.0.1',
      peerTrusted: false,
      claims: {},
      method: 'trustedHeader',
      ...(user ? { user } : {}),
      ...(tenant ? { tenant } : {}),
    });
    const hot = x.header('x-test-hot');
    if (hot) x.hot = [{ parameter: 'PromptHash', value: hot }];
    // What a fallback step after the first, or a trigger that switched features off, marks.
    if (x.header('x-test-degraded')) x.degraded = true;
    return CONTINUE;
  },
};

interface Gateway {
  url: string;
  time: ManualTime;
  registry: CacheRegistry;
  outcomes: CacheOutcome[];
  /** The upstream outcomes stale answers covered (x.covered of each exchange that had one). */
  covered: unknown[];
  /** Replaces the gateway's config: a new stage for `ir` (the registry adopts unchanged state). */
  reload(ir: CacheIR): void;
}

async function gateway(
  ir: CacheIR,
  up: Upstream | { port: number },
  registry?: CacheRegistry,
  time = new ManualTime(1_000_000),
  timers: Timers = time,
): Promise<Gateway> {
  const reg = registry ?? new CacheRegistry({ clock: time, timers: time });
  const outcomes: CacheOutcome[] = [];
  const backend = backendAt(up.port);
  let chain: Stage[] = [];
  const reload = (next: CacheIR): void => {
    const r = route(next);
    const pending = reg.prepare();
    const stage = new CacheStage(r, pending.cache(next), { clock: time, timers, l2: reg.l2, count: (o) => outcomes.push(o) });
    pending.commit();
    chain = [
      identify,
      new BodyStage('buffer', {
        bufferBytes: 1 << 16,
        inspectBytes: 1 << 16,
        timeoutMs: 5000,
        budget: new BodyBudget(1 << 24),
        timers: systemTimers,
      }),
      stage,
      new ProxyStage(r, {
        backends: new Map([['ns/upstream:80', backend]]),
        call: { maxBodyBytes: 1 << 20, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 },
        random: () => 0,
        sender: new BackendSender({
          call: { maxBodyBytes: 1 << 20, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 },
          headers: headerPolicy([]),
          stopwatch: time,
          clock: time,
          timers,
          random: () => 0,
        }),
      }),
    ];
  };
  reload(ir);
  const covered: unknown[] = [];
  const hooks: ExchangeHooks = {
    ended: (x) => {
      if (x.covered) covered.push({ status: x.status, upstream: x.covered });
    },
    failed: (x, err) => {
      if (!x.res.headersSent) sendProblem(x.res, 500, 'internal', 'Internal error', String(err));
    },
  };
  const port = await listen((req, res) => run(new Exchange(req, res, chain, time.now(), hooks)));
  return { url: `http://127.0.0.1:${port}`, time, registry: reg, outcomes, covered, reload };
}

/** The key a request gets (its identity, what the stage computes), to look at its flight or L1 entry. */
function keyFor(ir: CacheIR, method: string, path: string, json?: unknown): string {
  const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
  const key = compileKey(
    ir,
    'ns/r/rule-0',
  )({
    method,
    path,
    query: '',
    user: undefined,
    tenant: undefined,
    body,
    bodyJson: json,
    hasBody: body !== undefined,
    header: () => undefined,
  });
  if (key === undefined) throw new Error('no key');
  return key;
}

/** Followers waiting on the flight of `key`. */
function followers(gw: Gateway, key: string): number {
  return gw.registry.policy('ns/cache')?.flights.get(key)?.followers ?? 0;
}

interface Answer {
  status: number;
  cache: string | null;
  key: string | null;
  age: string | null;
  body: string;
  headers: Headers;
}

async function ask(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const body = await res.text();
  return {
    status: res.status,
    cache: res.headers.get('x-jarvis-cache'),
    key: res.headers.get('x-jarvis-cache-key'),
    age: res.headers.get('age'),
    body,
    headers: res.headers,
  };
}

const post = (body: string, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  body,
  headers: { 'content-type': 'application/json', ...headers },
});

describe('cache stage: hits and misses', () => {
  it('a degraded answer (DegradationPolicy) is served but not stored: the next identical request goes upstream', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    const degraded = await ask(`${gw.url}/a?x=1`, { headers: { 'x-test-degraded': '1' } });
    expect([degraded.status, degraded.cache, up.calls]).toEqual([200, 'miss', 1]);
    const next = await ask(`${gw.url}/a?x=1`);
    expect([next.status, next.cache, up.calls]).toEqual([200, 'miss', 2]);
    const hit = await ask(`${gw.url}/a?x=1`);
    expect([hit.cache, up.calls]).toEqual(['hit-l1', 2]);
    expect(gw.outcomes).toEqual(['miss', 'not_stored', 'miss', 'stored', 'hit_l1']);
  });

  it('a hit answers from L1 without the upstream, with Age and the cache status', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    const first = await ask(`${gw.url}/a?x=1`);
    expect([first.status, first.cache, up.calls]).toEqual([200, 'miss', 1]);
    gw.time.advance(7_500);
    const second = await ask(`${gw.url}/a?x=1`);
    expect([second.status, second.cache, second.age, up.calls]).toEqual([200, 'hit-l1', '7', 1]);
    expect(second.body).toBe(first.body);
    expect(second.headers.get('x-upstream')).toBe('yes');
    expect(second.headers.get('content-type')).toBe('application/json');
    // Another query is another entry.
    expect((await ask(`${gw.url}/a?x=2`)).cache).toBe('miss');
    expect(up.calls).toBe(2);
    expect(gw.outcomes).toEqual(['miss', 'stored', 'hit_l1', 'miss', 'stored']);
  });

  it('names the entry in x-jarvis-cache-key (its id) only for a request that asks with x-jarvis-cache-debug: key', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    const id = (path: string): string => keyId(keyFor(cacheIR(), 'GET', path));
    const plain = await ask(`${gw.url}/k`);
    expect([plain.cache, plain.key]).toEqual(['miss', null]);
    const asked = await ask(`${gw.url}/k2`, { headers: { 'x-jarvis-cache-debug': 'key' } });
    expect([asked.cache, asked.key]).toEqual(['miss', id('/k2')]);
    expect(asked.key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const hit = await ask(`${gw.url}/k`, { headers: { 'x-jarvis-cache-debug': 'trace, KEY' } });
    expect([hit.cache, hit.key]).toEqual(['hit-l1', id('/k')]);
    for (const other of ['keys', 'trace', '']) {
      const r = await ask(`${gw.url}/k`, { headers: { 'x-jarvis-cache-debug': other } });
      expect([r.cache, r.key]).toEqual(['hit-l1', null]);
    }
  });

  it('expires after the L1 ttl (injected clock)', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR({ l1: { maxEntries: 10, maxBytes: 1 << 20, ttlMs: 10_000 } }), up);
    await ask(`${gw.url}/a`);
    gw.time.advance(9_999);
    expect((await ask(`${gw.url}/a`)).cache).toBe('hit-l1');
    gw.time.advance(1);
    expect((await ask(`${gw.url}/a`)).cache).toBe('miss');
    expect(up.calls).toBe(2);
  });

  it('keys POST bodies canonically: field order and spacing do not matter, values do', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    expect((await ask(`${gw.url}/q`, post('{"query":"cats","top_k":5}'))).cache).toBe('miss');
    const same = await ask(`${gw.url}/q`, post('{ "top_k": 5, "query": "cats" }'));
    expect(same.cache).toBe('hit-l1');
    expect(JSON.parse(same.body)).toMatchObject({ n: 1, body: '{"query":"cats","top_k":5}' });
    expect((await ask(`${gw.url}/q`, post('{"query":"dogs","top_k":5}'))).cache).toBe('miss');
    expect(up.calls).toBe(2);
  });

  it('forwards a malformed JSON body as it came and keys it by its bytes', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    const first = await ask(`${gw.url}/q`, post('{"query": oops'));
    expect([first.status, first.cache]).toEqual([200, 'miss']);
    expect(JSON.parse(first.body)).toMatchObject({ body: '{"query": oops' });
    expect((await ask(`${gw.url}/q`, post('{"query": oops'))).cache).toBe('hit-l1');
  });

  it('a body larger than the buffer streams on untouched and is not cached (bypass)', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    const big = JSON.stringify({ q: 'x'.repeat(1 << 17) });
    const first = await ask(`${gw.url}/q`, post(big));
    expect([first.status, first.cache, JSON.parse(first.body).body.length]).toEqual([200, 'bypass', big.length]);
    expect((await ask(`${gw.url}/q`, post(big))).cache).toBe('bypass');
    expect(up.calls).toBe(2);
  });

  it('caches only the policy’s methods and leaves others alone', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR({ methods: ['GET', 'HEAD'] }), up);
    const put = await ask(`${gw.url}/a`, { method: 'PUT', body: 'x' });
    expect([put.cache, put.status]).toEqual([null, 200]);
    await ask(`${gw.url}/a`, { method: 'PUT', body: 'x' });
    expect(up.calls).toBe(2);
  });

  it('HEAD is its own entry and keeps its Content-Length', async () => {
    const up = await upstream();
    up.headers = { 'content-length': '42' };
    const gw = await gateway(cacheIR(), up);
    const port = new URL(gw.url).port;
    const head = (): Promise<{ cache: unknown; length: unknown }> =>
      new Promise((resolve, reject) => {
        http
          .request({ host: '127.0.0.1', port, method: 'HEAD', path: '/h' }, (res) => {
            res.resume();
            res.on('end', () => resolve({ cache: res.headers['x-jarvis-cache'], length: res.headers['content-length'] }));
          })
          .on('error', reject)
          .end();
      });
    expect(await head()).toEqual({ cache: 'miss', length: '42' });
    expect(await head()).toEqual({ cache: 'hit-l1', length: '42' });
    expect(up.calls).toBe(1);
  });

  it('stores a streamed answer once it completed; not one larger than maxBodyBytes', async () => {
    const up = await upstream();
    up.chunks = ['data: a\n\n', 'data: b\n\n', 'data: [DONE]\n\n'];
    const gw = await gateway(cacheIR({ maxBodyBytes: 40 }), up);
    expect((await ask(`${gw.url}/s`)).body).toBe('data: a\n\ndata: b\n\ndata: [DONE]\n\n');
    const hit = await ask(`${gw.url}/s`);
    expect([hit.cache, hit.body]).toEqual(['hit-l1', 'data: a\n\ndata: b\n\ndata: [DONE]\n\n']);
    up.chunks = ['x'.repeat(30), 'y'.repeat(30)];
    expect((await ask(`${gw.url}/big`)).body.length).toBe(60);
    expect((await ask(`${gw.url}/big`)).cache).toBe('miss');
    expect(up.calls).toBe(3);
  });
});

describe('cache stage: isolation', () => {
  it('User: two users with the same body never get each other’s answer', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR({ key: { query: 'All', headers: [], body: true, isolation: 'User' } }), up);
    const body = '{"model":"gpt-4","messages":[{"role":"user","content":"what is my balance?"}]}';
    const alice = await ask(`${gw.url}/chat`, post(body, { 'x-test-user': 'alice', 'x-test-tenant': 'acme' }));
    const bob = await ask(`${gw.url}/chat`, post(body, { 'x-test-user': 'bob', 'x-test-tenant': 'acme' }));
    expect([alice.cache, bob.cache]).toEqual(['miss', 'miss']);
    expect(JSON.parse(bob.body)).toMatchObject({ user: 'bob' });
    for (let i = 0; i < 3; i++) {
      const a = await ask(`${gw.url}/chat`, post(body, { 'x-test-user': 'alice', 'x-test-tenant': 'acme' }));
      const b = await ask(`${gw.url}/chat`, post(body, { 'x-test-user': 'bob', 'x-test-tenant': 'acme' }));
      expect([a.cache, JSON.parse(a.body).user, b.cache, JSON.parse(b.body).user]).toEqual(['hit-l1', 'alice', 'hit-l1', 'bob']);
    }
    // No user: not cached at all (bypass), every time upstream.
    expect((await ask(`${gw.url}/chat`, post(body))).cache).toBe('bypass');
    expect((await ask(`${gw.url}/chat`, post(body))).cache).toBe('bypass');
    expect(up.calls).toBe(4);
  });

  it('Tenant: users of one tenant share, another tenant does not', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR({ key: { query: 'All', headers: [], body: true, isolation: 'Tenant' } }), up);
    await ask(`${gw.url}/r`, post('{"q":1}', { 'x-test-user': 'alice', 'x-test-tenant': 'acme' }));
    expect((await ask(`${gw.url}/r`, post('{"q":1}', { 'x-test-user': 'bob', 'x-test-tenant': 'acme' }))).cache).toBe('hit-l1');
    expect((await ask(`${gw.url}/r`, post('{"q":1}', { 'x-test-user': 'carol', 'x-test-tenant': 'globex' }))).cache).toBe('miss');
  });
});

describe('cache stage: what is stored', () => {
  it('not: upstream no-store, private, Set-Cookie, a status outside the policy; the client’s no-store', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    const cases: [Record<string, string>, number][] = [
      [{ 'cache-control': 'no-store' }, 200],
      [{ 'cache-control': 'private, max-age=60' }, 200],
      [{ 'set-cookie': 'session=1' }, 200],
      [{}, 404],
    ];
    for (const [i, [headers, status]] of cases.entries()) {
      up.headers = headers;
      up.status = status;
      await ask(`${gw.url}/n${i}`);
      expect((await ask(`${gw.url}/n${i}`)).cache).toBe('miss');
    }
    up.headers = {};
    up.status = 200;
    await ask(`${gw.url}/c`, { headers: { 'cache-control': 'no-store' } });
    expect((await ask(`${gw.url}/c`)).cache).toBe('miss');
    expect(up.calls).toBe(10);
  });

  it('a client’s no-cache goes upstream and refreshes the entry', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    await ask(`${gw.url}/a`);
    const fresh = await ask(`${gw.url}/a`, { headers: { 'cache-control': 'no-cache' } });
    expect([fresh.cache, JSON.parse(fresh.body).n]).toEqual(['miss', 2]);
    const hit = await ask(`${gw.url}/a`);
    expect([hit.cache, JSON.parse(hit.body).n]).toEqual(['hit-l1', 2]);
  });
});

describe('cache stage: coalescing', () => {
  it('identical requests in flight share one upstream call', async () => {
    const up = await upstream();
    up.hold = true;
    const gw = await gateway(cacheIR(), up);
    const answers = Array.from({ length: 200 }, () => ask(`${gw.url}/slow`, post('{"q":"same"}')));
    // Every other request waits for the first one's answer.
    await expect.poll(() => followers(gw, keyFor(cacheIR(), 'POST', '/slow', { q: 'same' })), { timeout: 10_000 }).toBe(199);
    expect(up.calls).toBe(1);
    up.release();
    const all = await Promise.all(answers);
    expect(up.calls).toBe(1);
    expect(all.every((a) => a.status === 200 && JSON.parse(a.body).n === 1)).toBe(true);
    const statuses = all.map((a) => a.cache);
    expect(statuses.filter((s) => s === 'miss')).toHaveLength(1);
    expect(statuses.filter((s) => s !== 'miss').every((s) => s === 'coalesced' || s === 'hit-l1')).toBe(true);
  });

  it('followers go upstream themselves when the first answer cannot be stored', async () => {
    const up = await upstream();
    up.hold = true;
    up.status = 500;
    const gw = await gateway(cacheIR(), up);
    const answers = Array.from({ length: 5 }, () => ask(`${gw.url}/e`));
    await expect.poll(() => followers(gw, keyFor(cacheIR(), 'GET', '/e'))).toBe(4);
    expect(up.calls).toBe(1);
    up.hold = false;
    up.release();
    const all = await Promise.all(answers);
    expect(all.every((a) => a.status === 500)).toBe(true);
    expect(up.calls).toBe(5);
  });

  it('followers wait at most maxWait, then go upstream (injected timers)', async () => {
    const up = await upstream();
    up.hold = true;
    const gw = await gateway(cacheIR(), up);
    const first = ask(`${gw.url}/w`);
    await expect.poll(() => up.calls).toBe(1);
    const second = ask(`${gw.url}/w`);
    await expect.poll(() => followers(gw, keyFor(cacheIR(), 'GET', '/w'))).toBe(1);
    gw.time.advance(5000);
    await expect.poll(() => up.calls).toBe(2);
    up.release();
    expect((await second).cache).toBe('miss');
    expect((await first).cache).toBe('miss');
  });
});

describe('cache stage: stale copies', () => {
  const sie = (): CacheIR => cacheIR({ l1: { maxEntries: 10, maxBytes: 1 << 20, ttlMs: 10_000 }, ttlMs: 10_000, staleIfErrorMs: 30_000 });

  it('stale-if-error: an upstream 5xx is covered by the stale copy until the bound, then passes', async () => {
    const up = await upstream();
    const gw = await gateway(sie(), up);
    const original = await ask(`${gw.url}/a`);
    up.status = 503;
    gw.time.advance(10_000); // expired
    const covered = await ask(`${gw.url}/a`);
    expect([covered.status, covered.cache, covered.body, covered.age]).toEqual([200, 'stale', original.body, '10']);
    gw.time.advance(29_999); // 39.999 s after storing: still within 30 s of the expiry
    expect((await ask(`${gw.url}/a`)).cache).toBe('stale');
    gw.time.advance(1);
    const after = await ask(`${gw.url}/a`);
    expect([after.status, after.cache]).toEqual([503, 'miss']);
    expect(up.calls).toBe(4);
    expect(gw.outcomes.filter((o) => o === 'stale_if_error')).toHaveLength(2);
    // The client got 200; the exchange still says what the upstream did (metrics, breakers).
    await expect
      .poll(() => gw.covered)
      .toEqual([
        { status: 200, upstream: { status: 503, error: undefined } },
        { status: 200, upstream: { status: 503, error: undefined } },
      ]);
  });

  it('stale-if-error: covers an upstream that cannot be reached', async () => {
    const up = await upstream();
    const closed = await listen(() => {});
    const time = new ManualTime(1_000_000);
    const registry = new CacheRegistry({ clock: time, timers: time });
    const gw = await gateway(sie(), up, registry, time);
    const original = await ask(`${gw.url}/a`);
    // The same registry and policy behind a dead upstream (a reload to another backend).
    const dead = servers.find((s) => (s.address() as AddressInfo).port === closed);
    dead?.closeAllConnections();
    await new Promise((r) => dead?.close(r));
    const gw2 = await gateway(sie(), { port: closed }, registry, time);
    time.advance(10_000);
    const covered = await ask(`${gw2.url}/a`);
    expect([covered.status, covered.cache, covered.body]).toEqual([200, 'stale', original.body]);
    await expect.poll(() => gw2.covered).toEqual([{ status: 200, upstream: { status: 0, error: 'connect' } }]);
    time.advance(30_000);
    expect((await ask(`${gw2.url}/a`)).status).toBe(502);
  });

  it('without staleIfError, errors pass through', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR({ l1: { maxEntries: 10, maxBytes: 1 << 20, ttlMs: 1000 }, ttlMs: 1000 }), up);
    await ask(`${gw.url}/a`);
    up.status = 500;
    gw.time.advance(1000);
    expect((await ask(`${gw.url}/a`)).status).toBe(500);
  });

  it('stale-while-revalidate: one request refreshes, the others get the stale copy meanwhile', async () => {
    const up = await upstream();
    const gw = await gateway(
      cacheIR({ l1: { maxEntries: 10, maxBytes: 1 << 20, ttlMs: 10_000 }, ttlMs: 10_000, staleWhileRevalidateMs: 5000 }),
      up,
    );
    const original = await ask(`${gw.url}/a`);
    gw.time.advance(10_000);
    up.hold = true;
    const refresher = ask(`${gw.url}/a`);
    await expect.poll(() => up.calls).toBe(2);
    const meanwhile = await ask(`${gw.url}/a`);
    expect([meanwhile.cache, meanwhile.body]).toEqual(['stale', original.body]);
    up.release();
    const refreshed = await refresher;
    expect([refreshed.cache, JSON.parse(refreshed.body).n]).toEqual(['miss', 2]);
    expect(JSON.parse((await ask(`${gw.url}/a`)).body).n).toBe(2);
    // Past the window nobody gets the stale copy: they wait for the refresh.
    gw.time.advance(15_000);
    const late = ask(`${gw.url}/a`);
    await expect.poll(() => up.calls).toBe(3);
    const second = ask(`${gw.url}/a`);
    await expect.poll(() => followers(gw, keyFor(cacheIR(), 'GET', '/a'))).toBe(1);
    up.release();
    expect([(await late).cache, (await second).cache]).toEqual(['miss', 'coalesced']);
  });
});

describe('cache stage: invalidation, hot keys, reloads', () => {
  it('by tag: every entry under the tag at once, others stay', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    up.headers = { 'x-cache-tags': 'doc:1, kb' };
    await ask(`${gw.url}/one`);
    up.headers = { 'x-cache-tags': 'doc:1' };
    await ask(`${gw.url}/two`);
    up.headers = { 'x-cache-tags': 'doc:2' };
    await ask(`${gw.url}/three`);
    expect(await gw.registry.invalidate({ tags: ['doc:1'], keys: [], all: false })).toEqual({ policies: ['ns/cache'], redis: 'none' });
    expect((await ask(`${gw.url}/one`)).cache).toBe('miss');
    expect((await ask(`${gw.url}/two`)).cache).toBe('miss');
    expect((await ask(`${gw.url}/three`)).cache).toBe('hit-l1');
  });

  it('an answer in flight during an invalidation is not stored', async () => {
    const up = await upstream();
    up.hold = true;
    up.headers = { 'x-cache-tags': 'doc:1' };
    const gw = await gateway(cacheIR(), up);
    const pending = ask(`${gw.url}/a`);
    await expect.poll(() => up.calls).toBe(1);
    await gw.registry.invalidate({ tags: ['doc:1'], keys: [], all: false });
    up.release();
    await pending;
    up.hold = false;
    expect((await ask(`${gw.url}/a`)).cache).toBe('miss');
  });

  it('by key (from x-jarvis-cache-key) and all (the policy’s version)', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    const a = await ask(`${gw.url}/a`, { headers: { 'x-jarvis-cache-debug': 'key' } });
    await ask(`${gw.url}/b`);
    await gw.registry.invalidate({ policy: 'ns/cache', tags: [], keys: [a.key ?? ''], all: false });
    expect((await ask(`${gw.url}/a`)).cache).toBe('miss');
    expect((await ask(`${gw.url}/b`)).cache).toBe('hit-l1');
    await gw.registry.invalidate({ policy: 'ns/cache', tags: [], keys: [], all: true });
    expect((await ask(`${gw.url}/b`)).cache).toBe('miss');
    await expect(gw.registry.invalidate({ policy: 'ns/other', tags: [], keys: [], all: true })).rejects.toThrow(/no CachePolicy ns\/other/);
  });

  it('pins the entries of hot keys in L1 while hot', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR({ l1: { maxEntries: 4, maxBytes: 1 << 20, ttlMs: 600_000 } }), up);
    await ask(`${gw.url}/hot`, { headers: { 'x-test-hot': 'p1' } });
    for (let i = 0; i < 10; i++) await ask(`${gw.url}/cold${i}`);
    expect(gw.registry.policy('ns/cache')?.l1.isPinned(keyFor(cacheIR(), 'GET', '/hot'))).toBe(true);
    expect((await ask(`${gw.url}/hot`)).cache).toBe('hit-l1');
    // Not flagged any more: the pin lapses (MIN_PIN_MS), then it is an entry like the others.
    gw.time.advance(1000);
    for (let i = 10; i < 20; i++) await ask(`${gw.url}/cold${i}`);
    expect((await ask(`${gw.url}/hot`)).cache).toBe('miss');
  });

  it('keeps L1 across a config reload when the policy is unchanged, not when it changed', async () => {
    const up = await upstream();
    const gw = await gateway(cacheIR(), up);
    await ask(`${gw.url}/a`);
    gw.reload(cacheIR({ source: { kind: 'CachePolicy', namespace: 'ns', name: 'cache', generation: 2 } }));
    expect((await ask(`${gw.url}/a`)).cache).toBe('hit-l1');
    gw.reload(cacheIR({ ttlMs: 30_000, l1: { maxEntries: 1000, maxBytes: 1 << 24, ttlMs: 30_000 } }));
    expect((await ask(`${gw.url}/a`)).cache).toBe('miss');
  });
});

describe('cache stage with Redis (L2), two gateways', () => {
  const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const clients: Redis[] = [];
  const subscriptions: Subscription[] = [];
  const prefix = `test:cache:${randomUUID()}:`;

  afterAll(async () => {
    for (const s of subscriptions) s.close();
    const r = clients[0];
    if (r) {
      const keys = await r.keys(`${prefix}*`);
      if (keys.length > 0) await r.del(...keys);
    }
    for (const c of clients) c.disconnect();
  });

  async function client(): Promise<Redis> {
    const r = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    clients.push(r);
    await r.connect();
    return r;
  }

  /** A gateway's registry on Redis, listening to the other gateways' invalidations. */
  async function replica(time: ManualTime, timers: Timers = time): Promise<CacheRegistry> {
    const redis = await client();
    const registry = new CacheRegistry({ clock: time, timers, prefix, l2: new RedisLevel({ redis, prefix, timeoutMs: 2000, timers }) });
    subscriptions.push(
      subscribeInvalidations(redis, registry.channel, registry.instance, {
        onMessage: (m) => registry.applyRemote(m),
        onResubscribed: () => registry.dropAllL1(),
        onError: () => {},
      }),
    );
    // Subscribed once a PUBLISH reaches one listener more than before.
    const before = Number((await redis.pubsub('NUMSUB', registry.channel))[1]);
    await expect
      .poll(async () => Number((await redis.pubsub('NUMSUB', registry.channel))[1]), { timeout: 5000, interval: 10 })
      .toBeGreaterThan(before);
    return registry;
  }

  /** Waits until the policy's one entry is in Redis (the L2 store follows the answer). */
  const storedInL2 = async (ir: CacheIR): Promise<void> => {
    const r = clients[0];
    if (!r) throw new Error('no Redis client yet');
    await expect.poll(async () => (await r.keys(`${prefix}{${ir.namespace}*:e:*`)).length, { timeout: 2000, interval: 5 }).toBe(1);
  };

  const l2IR = (over: Partial<CacheIR> = {}): CacheIR =>
    cacheIR({ namespace: `ns/${randomUUID().slice(0, 8)}`, l2: { enabled: true, ttlMs: 60_000 }, ...over });

  it('one gateway’s answer is the other’s hit-l2 (then its hit-l1)', async () => {
    const up = await upstream();
    const time = new ManualTime(1_000_000);
    const ir = l2IR();
    const a = await gateway(ir, up, await replica(time), time);
    const b = await gateway(ir, up, await replica(time), time);
    const first = await ask(`${a.url}/doc`, post('{"q":1}'));
    expect(first.cache).toBe('miss');
    await expect.poll(async () => (await ask(`${b.url}/doc`, post('{"q":1}'))).cache).toBe('hit-l2');
    expect((await ask(`${b.url}/doc`, post('{"q":1}'))).cache).toBe('hit-l1');
    expect(up.calls).toBe(1);
    time.advance(3000);
    expect((await ask(`${b.url}/doc`, post('{"q":1}'))).age).toBe('3');
  });

  it('a tag invalidated on one gateway is gone from L2 and from the other gateway’s L1', async () => {
    const up = await upstream();
    up.headers = { 'x-cache-tags': 'doc:7' };
    const time = new ManualTime(1_000_000);
    const ir = l2IR();
    const ra = await replica(time);
    const rb = await replica(time);
    const a = await gateway(ir, up, ra, time);
    const b = await gateway(ir, up, rb, time);
    await ask(`${a.url}/x`);
    await expect.poll(async () => (await ask(`${b.url}/x`)).cache).toBe('hit-l2');
    expect((await ask(`${b.url}/x`)).cache).toBe('hit-l1');
    expect(await ra.invalidate({ tags: ['doc:7'], keys: [], all: false })).toEqual({ policies: [ir.namespace], redis: 'ok' });
    await expect.poll(() => rb.remote.applied, { timeout: 2000 }).toBe(1);
    expect((await ask(`${b.url}/x`)).cache).toBe('miss');
    expect(up.calls).toBe(2);
  });

  it('stale-if-error from L2 on a gateway that never saw the answer', async () => {
    const up = await upstream();
    const time = new ManualTime(1_000_000);
    const ir = l2IR({
      ttlMs: 10_000,
      l1: { maxEntries: 10, maxBytes: 1 << 20, ttlMs: 10_000 },
      l2: { enabled: true, ttlMs: 10_000 },
      staleIfErrorMs: 60_000,
    });
    const a = await gateway(ir, up, await replica(time), time);
    const b = await gateway(ir, up, await replica(time), time);
    const original = await ask(`${a.url}/s`);
    await storedInL2(ir);
    time.advance(20_000);
    up.status = 502;
    const covered = await ask(`${b.url}/s`);
    expect([covered.status, covered.cache, covered.body]).toEqual([200, 'stale', original.body]);
  });

  it('stale-while-revalidate with a stale copy from L2: one refresh, the others get the copy', async () => {
    const up = await upstream();
    const time = new ManualTime(1_000_000);
    const ir = l2IR({
      ttlMs: 10_000,
      l1: { maxEntries: 10, maxBytes: 1 << 20, ttlMs: 10_000 },
      l2: { enabled: true, ttlMs: 10_000 },
      staleWhileRevalidateMs: 60_000,
    });
    const a = await gateway(ir, up, await replica(time), time);
    const b = await gateway(ir, up, await replica(time), time);
    const original = await ask(`${a.url}/swr`);
    await storedInL2(ir);
    time.advance(20_000);
    up.hold = true;
    const refresher = ask(`${b.url}/swr`); // B has no copy in L1: it finds the stale one in L2 and refreshes
    await expect.poll(() => up.calls).toBe(2);
    const meanwhile = await ask(`${b.url}/swr`);
    expect([meanwhile.cache, meanwhile.body]).toEqual(['stale', original.body]);
    up.release();
    expect((await refresher).cache).toBe('miss');
    expect(up.calls).toBe(2);
  });

  it('acrossReplicas: one gateway fetches, the other waits for its answer in Redis', async () => {
    const up = await upstream();
    up.hold = true;
    const time = new ManualTime(1_000_000);
    const ir = l2IR({ coalescing: { enabled: true, maxWaitMs: 5000, acrossReplicas: true } });
    const a = await gateway(ir, up, await replica(time, systemTimers), time, systemTimers);
    // b's stage looks in Redis again only when the test moves its own scheduler.
    const polls = new ManualTime(1_000_000);
    const b = await gateway(ir, up, await replica(time, systemTimers), time, polls);
    const first = ask(`${a.url}/lock`);
    await expect.poll(() => up.calls).toBe(1);
    const second = ask(`${b.url}/lock`);
    // b found the lock held and waits for its next look.
    await expect.poll(() => polls.pending()).toBe(1);
    up.release();
    expect((await first).cache).toBe('miss');
    await storedInL2(ir);
    polls.advance(POLL_MS);
    expect((await second).cache).toBe('hit-l2');
    expect(up.calls).toBe(1);
  });

  it('Redis out of reach: L1 only, no waiting', async () => {
    const up = await upstream();
    const time = new ManualTime(1_000_000);
    const dead = new Redis(`redis://127.0.0.1:${await listen(() => {})}`, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    dead.on('error', () => {});
    clients.push(dead);
    const registry = new CacheRegistry({
      clock: time,
      timers: time,
      prefix,
      l2: new RedisLevel({ redis: dead, prefix, timeoutMs: 50, timers: time }),
    });
    const gw = await gateway(l2IR(), up, registry, time);
    expect((await ask(`${gw.url}/a`)).cache).toBe('miss');
    expect((await ask(`${gw.url}/a`)).cache).toBe('hit-l1');
    expect(await registry.invalidate({ tags: ['t'], keys: [], all: false })).toMatchObject({ redis: 'unavailable' });
  });
});
