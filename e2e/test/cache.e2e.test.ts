/**
 * The response cache end to end: two real gateway processes (standalone, on one config folder)
 * on a real Redis of this file's own, in front of an upstream that counts what reaches it.
 * 1,000 concurrent identical requests make exactly one upstream call; a tag invalidated through
 * one gateway's admin API is gone from the other gateway's L1 within 100 ms; stale-if-error covers
 * a failing upstream and stops at its bound; User isolation never gives one user's answer to
 * another; L1 survives a config reload that leaves the policy unchanged.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clock, sleep } from '../src/clock.js';
import { freePort } from '../src/envtest/ports.js';
import { standaloneConfig, startGateway, startUpstream, type GatewayProcess, type TestUpstream } from '../src/gateway.js';
import { ensureRedis, type RedisServer } from '../src/redis/index.js';

const route = (name: string, path: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: e2e }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: ${path} } }], backendRefs: [{ name: upstream, port: 80 }] }]`;

const cachePolicy = (name: string, target: string, spec: string) => `apiVersion: stability.jarvis.io/v1alpha1
kind: CachePolicy
metadata: { name: ${name}, namespace: e2e }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${target} }]
${spec}`;

const MANIFESTS = (port: number, extra: string[] = []) =>
  standaloneConfig(
    port,
    [
      route('stampede', '/stampede'),
      route('tagged', '/tagged'),
      route('stale', '/stale'),
      route('chat', '/chat'),
      route('local', '/local'),
      // Followers wait up to 30 s: on a loaded machine the 1,000 requests must not outwait the flight.
      cachePolicy(
        'stampede',
        'stampede',
        '  ttl: 60s\n  methods: [POST]\n  key: { body: true, isolation: None }\n  coalescing: { maxWait: 30s }',
      ),
      cachePolicy('tagged', 'tagged', '  ttl: 60s\n  key: { isolation: None }'),
      cachePolicy('stale', 'stale', '  ttl: 1s\n  key: { isolation: None }\n  staleIfError: 2s'),
      cachePolicy('chat', 'chat', '  ttl: 60s\n  methods: [POST]\n  key: { body: true, isolation: User }'),
      // L1 only: what a gateway holds in memory, and nothing in Redis to hide its loss.
      cachePolicy('local', 'local', '  ttl: 60s\n  key: { isolation: None }\n  l2: { enabled: false }'),
      ...extra,
    ].join('\n---\n'),
  );

let upstream: TestUpstream;
let redis: RedisServer;
let redisClient: Redis;

/**
 * Entries of the two-level policies in Redis. A gateway stores a miss's answer there after it has
 * answered: the other gateway is asked only once the entry is in, or it would miss and keep its
 * own copy in L1 (never a hit-l2).
 */
async function l2Entries(): Promise<number> {
  return (await redisClient.keys('jarvis:cache:*:e:*')).length;
}
let a: GatewayProcess;
let b: GatewayProcess;
let configDir: string;
const dirs: string[] = [];

interface Answer {
  status: number;
  cache: string | null;
  key: string | null;
  body: string;
}

async function ask(url: string, init?: RequestInit): Promise<Answer> {
  const res = await fetch(url, init);
  const body = await res.text();
  return { status: res.status, cache: res.headers.get('x-jarvis-cache'), key: res.headers.get('x-jarvis-cache-key'), body };
}

const post = (body: string, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  body,
  headers: { 'content-type': 'application/json', ...headers },
});

async function invalidate(gw: GatewayProcess, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${gw.adminUrl}/admin/cache/invalidate`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  upstream = await startUpstream();
  redis = await ensureRedis(`redis://127.0.0.1:${await freePort()}`);
  redisClient = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  configDir = mkdtempSync(join(tmpdir(), 'jarvis-cache-e2e-'));
  dirs.push(configDir);
  writeFileSync(join(configDir, 'config.yaml'), MANIFESTS(upstream.port));
  const identityDir = mkdtempSync(join(tmpdir(), 'jarvis-cache-id-'));
  dirs.push(identityDir);
  const identity = join(identityDir, 'identity.yaml');
  // The test client is the trusted proxy: its x-user-id / x-tenant-id are the verified identity.
  writeFileSync(identity, 'trustedProxies: [127.0.0.1/32]\ntrustedHeaders: { tenant: x-tenant-id, user: x-user-id }\n');
  // Redis answers within 2 s even while 1,000 requests arrive at once on a loaded 2-core machine.
  const args = ['--config', configDir, '--redis', redis.url, '--redis-timeout', '2s', '--identity', identity];
  [a, b] = await Promise.all([startGateway({ name: 'cache-a', args }), startGateway({ name: 'cache-b', args })]);
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  redisClient?.disconnect();
  await redis?.stop();
  await upstream?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('response cache across real gateways', () => {
  it('1,000 concurrent identical requests make exactly 1 upstream call', async () => {
    upstream.behave({ latencyMs: 300 });
    const before = upstream.requests();
    const entries = await l2Entries();
    const body = JSON.stringify({ query: 'what is jarvis?', top_k: 5 });
    const answers = await Promise.all(Array.from({ length: 1000 }, () => ask(`${a.url}/stampede`, post(body))));
    upstream.behave({ latencyMs: 0 });
    expect(upstream.requests() - before).toBe(1);
    expect(answers.every((x) => x.status === 200)).toBe(true);
    expect(new Set(answers.map((x) => x.body)).size).toBe(1);
    const byStatus = new Map<string | null, number>();
    for (const x of answers) byStatus.set(x.cache, (byStatus.get(x.cache) ?? 0) + 1);
    expect(byStatus.get('miss')).toBe(1);
    expect((byStatus.get('coalesced') ?? 0) + (byStatus.get('hit-l1') ?? 0)).toBe(999);
    process.stderr.write(
      `[cache e2e] 1,000 concurrent identical requests: ${JSON.stringify(Object.fromEntries(byStatus))}, upstream calls 1\n`,
    );
    // The other gateway finds it in Redis, the fields in another order notwithstanding.
    await expect.poll(l2Entries, { timeout: 5000, interval: 10 }).toBe(entries + 1);
    const other = await ask(`${b.url}/stampede`, post(JSON.stringify({ top_k: 5, query: 'what is jarvis?' })));
    expect([other.cache, other.body]).toEqual(['hit-l2', answers[0]?.body]);
    expect(upstream.requests() - before).toBe(1);
    expect(await a.metric('jarvis_gateway_cache_requests_total', { policy: 'e2e/stampede', result: 'coalesced' })).toBeGreaterThan(0);
  });

  it('a tag invalidated on one gateway is gone from the other gateway’s L1 within 100 ms', async () => {
    upstream.behave({ headers: { 'x-cache-tags': 'doc:42' } });
    // The L1-only policy: B's copy lives in B's memory alone.
    expect((await ask(`${b.url}/local/doc`)).cache).toBe('miss');
    expect((await ask(`${b.url}/local/doc`)).cache).toBe('hit-l1');
    // And the two-level one: B holds it in L1, filled from Redis.
    const entries = await l2Entries();
    expect((await ask(`${a.url}/tagged/doc`)).cache).toBe('miss');
    await expect.poll(l2Entries, { timeout: 5000, interval: 10 }).toBe(entries + 1);
    expect((await ask(`${b.url}/tagged/doc`)).cache).toBe('hit-l2');
    expect((await ask(`${b.url}/tagged/doc`)).cache).toBe('hit-l1');
    upstream.behave({ headers: {} });

    // Timed from the moment gateway A has invalidated (its admin call answered: its own L1, the
    // versions in Redis and the message to the other gateways are done).
    const t0 = clock.now();
    const r = await invalidate(a, { tags: ['doc:42'] });
    const done = clock.now();
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ redis: 'ok', invalidated: { tags: ['doc:42'], keys: [], all: false } });
    let gone = -1;
    for (;;) {
      const x = await ask(`${b.url}/local/doc`);
      if (x.cache === 'miss') {
        gone = clock.now() - done;
        break;
      }
      expect(x.cache).toBe('hit-l1');
      if (clock.now() - done > 5000) break;
      await sleep(2);
    }
    process.stderr.write(
      `[cache e2e] tag invalidated on gateway A (admin call ${done - t0} ms): gone from gateway B's L1 ${gone} ms after A answered\n`,
    );
    expect(gone).toBeGreaterThanOrEqual(0);
    expect(gone).toBeLessThanOrEqual(100);
    // Gone from B's L1 and from Redis for the two-level policy too.
    expect((await ask(`${b.url}/tagged/doc`)).cache).toBe('miss');
    expect(await b.metric('jarvis_gateway_cache_redis_calls_total', { outcome: 'remote_applied' })).toBeGreaterThan(0);
  });

  it('invalidation by key and for a whole policy; bad requests get a problem', async () => {
    // The entry's key, shown to a request that asks for it (and to no other).
    const first = await ask(`${a.url}/tagged/by-key`, { headers: { 'x-jarvis-cache-debug': 'key' } });
    expect(first.key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const hit = await ask(`${a.url}/tagged/by-key`);
    expect([hit.cache, hit.key]).toEqual(['hit-l1', null]);
    expect((await invalidate(b, { policy: 'e2e/tagged', keys: [first.key] })).status).toBe(200);
    await expect.poll(async () => (await ask(`${a.url}/tagged/by-key`)).cache, { timeout: 2000 }).toBe('miss');
    expect((await ask(`${a.url}/tagged/by-key`)).cache).toBe('hit-l1');
    expect((await invalidate(a, { policy: 'e2e/tagged', all: true })).status).toBe(200);
    expect((await ask(`${a.url}/tagged/by-key`)).cache).toBe('miss');

    const unknown = await invalidate(a, { policy: 'e2e/nope', all: true });
    expect(unknown.status).toBe(404);
    const bad = await invalidate(a, { tags: ['#all'] });
    expect([bad.status, bad.json['detail']]).toEqual([400, expect.stringContaining('tags[0]')]);
    const notJson = await fetch(`${a.adminUrl}/admin/cache/invalidate`, { method: 'POST', body: '{oops' });
    expect([notJson.status, notJson.headers.get('content-type')]).toEqual([400, expect.stringContaining('application/problem+json')]);
    const stats = (await (await fetch(`${a.adminUrl}/admin/cache`)).json()) as { redis: boolean; policies: { policy: string }[] };
    expect(stats.redis).toBe(true);
    expect(stats.policies.map((p) => p.policy)).toEqual(['e2e/chat', 'e2e/local', 'e2e/stale', 'e2e/stampede', 'e2e/tagged']);
  });

  it('stale-if-error serves while the upstream fails, and stops after its bound', async () => {
    const t0 = clock.now();
    const original = await ask(`${a.url}/stale/x`);
    const t1 = clock.now();
    expect(original.cache).toBe('miss');
    upstream.behave({ status: 503 });
    // Fresh until ~1 s after the answer; stale-if-error for 2 s more.
    const seen: { at: number; status: number; cache: string | null; same: boolean }[] = [];
    while (clock.now() - t0 < 4500) {
      const sent = clock.now();
      const x = await ask(`${a.url}/stale/x`);
      seen.push({ at: sent - t0, status: x.status, cache: x.cache, same: x.body === original.body });
      await sleep(100);
    }
    upstream.behave({ status: 200 });
    const fresh = seen.filter((s) => s.at < 900);
    const staleWindow = seen.filter((s) => s.at > t1 - t0 + 1100 && s.at < 2900);
    const after = seen.filter((s) => s.at > t1 - t0 + 3100);
    expect(fresh.every((s) => s.status === 200 && s.cache === 'hit-l1' && s.same)).toBe(true);
    expect(staleWindow.length).toBeGreaterThan(5);
    expect(staleWindow.every((s) => s.status === 200 && s.cache === 'stale' && s.same)).toBe(true);
    expect(after.length).toBeGreaterThan(3);
    expect(after.every((s) => s.status === 503 && s.cache === 'miss')).toBe(true);
  });

  it('User isolation never serves one user’s answer to another (two users, same body)', async () => {
    const body = JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'What is on my calendar today?' }] });
    const as = (user: string) => post(body, { 'x-user-id': user, 'x-tenant-id': 'acme' });
    const before = upstream.requests();
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const user = i % 2 === 0 ? 'alice' : 'bob';
        const gw = i % 4 < 2 ? a : b;
        return ask(`${gw.url}/chat`, as(user)).then((x) => ({ user, ...x }));
      }),
    );
    for (const x of answers) {
      expect(x.status).toBe(200);
      expect((JSON.parse(x.body) as { user: string }).user).toBe(x.user);
    }
    // Each user's answer is fetched once per gateway at most, and then served to that user only.
    expect(upstream.requests() - before).toBeGreaterThanOrEqual(2);
    expect(upstream.requests() - before).toBeLessThanOrEqual(4);
    for (const gw of [a, b])
      for (const user of ['alice', 'bob']) {
        const x = await ask(`${gw.url}/chat`, as(user));
        expect(x.cache).toMatch(/^hit-l[12]$/);
        expect((JSON.parse(x.body) as { user: string }).user).toBe(user);
      }
    // Without a verified user the answer is neither served from nor stored in the cache.
    const anonymous = await ask(`${a.url}/chat`, post(body));
    expect([anonymous.cache, (JSON.parse(anonymous.body) as { user: string | null }).user]).toEqual(['bypass', null]);
  });

  it('L1 survives a config reload that leaves the policy unchanged', async () => {
    expect((await ask(`${a.url}/local/reload`)).cache).toBe('miss');
    expect((await ask(`${a.url}/local/reload`)).cache).toBe('hit-l1');
    const version = async (): Promise<number | undefined> =>
      a.metric('jarvis_gateway_config_updates_total', { source: 'file', result: 'applied' });
    const applied = await version();
    writeFileSync(join(configDir, 'config.yaml'), MANIFESTS(upstream.port, [route('extra', '/extra')]));
    await expect.poll(version, { timeout: 10_000 }).toBeGreaterThan(applied ?? 0);
    expect((await ask(`${a.url}/extra`)).status).toBe(200);
    expect((await ask(`${a.url}/local/reload`)).cache).toBe('hit-l1');
  });
});
