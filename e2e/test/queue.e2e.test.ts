/**
 * The queue stage in a real jarvis-gateway process (standalone, real Redis) in front of a slow
 * mock upstream that serves one request at a time: VIP requests overtake waiting standard ones,
 * a request whose deadline passes while it waits is answered 503 with Retry-After and never
 * reaches the upstream, the queue's waiting requests survive a config reload, and bad input gets a
 * 4xx problem+json (unknown priority class, bad deadline, oversized async body, malformed job id,
 * replay of a purged dead-letter entry).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { platformYaml } from '../src/platform.js';
import { eventually } from '../src/cluster.js';
import { startGateway, type GatewayProcess } from '../src/gateway.js';
import { startMockProcess, type MockProcess } from '../src/mocks.js';

const NS = `queue-${randomBytes(4).toString('hex')}`;
let mock: MockProcess;
let gw: GatewayProcess | undefined;
let dir: string;
let redis: Redis;

function config(mockPort: number, extra = ''): string {
  return `${platformYaml({ namespace: NS, gatewayClass: true, gateway: 'gw', sameNamespaceRoutes: true, service: 'slow', route: 'api', pathPrefix: '/api', endpoint: { host: 'slow.localhost', port: mockPort } })}---
apiVersion: stability.jarvis.io/v1alpha1
kind: QueuePolicy
metadata: { name: llm, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  maxInFlight: 1
  maxQueued: 20
  priorityClasses:
    - { name: vip, priority: 100, match: { tenants: [acme] } }
    - { name: standard, priority: 50 }
    - { name: batch, priority: 10, match: { header: { name: x-jarvis-priority, values: [batch] } } }
  defaultPriorityClass: standard
  fairness: { key: Tenant }
  # The gate admits a waiting request only while the recent upstream time plus twice its deviation
  # is left: after a 3 s call that is about 6 s, and the requests queued behind it wait over 3 s.
  deadline: { default: 20s, max: 30s }
  async: { maxBodyBytes: 1024, maxAttempts: 1 }
  deadLetter: { synchronous: true }
${extra}`;
}

async function get(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; receivedAt: number; headers: Headers; text: string }> {
  const res = await fetch(`${gw?.url}${path}`, { headers });
  return {
    status: res.status,
    receivedAt: Number(res.headers.get('x-mock-received-at') ?? 0),
    headers: res.headers,
    text: await res.text(),
  };
}

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'), { lazyConnect: true });
  await redis.connect();
  mock = await startMockProcess({ mocks: [{ name: 'slow', kind: 'chat', latencyMs: 400, concurrency: 1 }] });
  dir = mkdtempSync(join(tmpdir(), 'jarvis-queue-e2e-'));
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'config.yaml'), config(mock.port('slow')));
  writeFileSync(join(dir, 'identity.yaml'), 'trustedProxies: [127.0.0.0/8]\n');
  gw = await startGateway({
    name: 'queue',
    args: ['--config', configDir, '--identity', join(dir, 'identity.yaml'), '--redis', inject('redisUrl')],
  });
});

afterAll(async () => {
  await gw?.stop();
  await mock?.stop();
  rmSync(dir, { recursive: true, force: true });
  const keys = [...(await redis.keys(`jarvis:q:{${NS}}:*`)), ...(await redis.keys(`jarvis:dlq:{${NS}}:*`))];
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** Waits until the gateway's queue has `n` requests waiting. */
async function waiting(n: number): Promise<void> {
  await eventually(`${n} waiting`, async () => ((await gw?.metric('jarvis_gateway_queue_depth')) === n ? true : undefined), 10_000, 20);
}

describe('queue in a real gateway', () => {
  it('VIP first, deadlines answered 503 with Retry-After and never sent upstream, one request upstream at a time', async () => {
    // The first request holds the one slot long enough for the others to line up behind it.
    await mock.configure('slow', { latencyMs: 3000 });
    const first = get('/api/first', { 'x-tenant-id': 't1' });
    await eventually('first upstream', async () => ((await mock.stats('slow'))['requests'] === 1 ? true : undefined), 10_000, 20);
    const std = [get('/api/s1', { 'x-tenant-id': 't1' }), get('/api/s2', { 'x-tenant-id': 't2' })];
    await waiting(2);
    const batch = get('/api/b1', { 'x-tenant-id': 't3', 'x-jarvis-priority': 'batch' });
    await waiting(3);
    const vip = get('/api/v1', { 'x-tenant-id': 'acme' });
    await waiting(4);
    const late = await get('/api/late', { 'x-tenant-id': 't4', 'x-request-deadline-ms': '300' });
    expect(late.status).toBe(503);
    expect(Number(late.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(late.headers.get('content-type')).toBe('application/problem+json');
    expect(JSON.parse(late.text)).toMatchObject({ type: expect.stringContaining('deadline-exceeded'), status: 503 });
    await mock.configure('slow', { latencyMs: 200 });

    const [f, s1, s2, b1, v1] = await Promise.all([first, ...std, batch, vip]);
    for (const r of [f, s1, s2, b1, v1]) expect(r?.status).toBe(200);
    // VIP went before the standard requests that waited longer, batch last.
    expect(v1?.receivedAt).toBeLessThan(Math.min(s1?.receivedAt ?? 0, s2?.receivedAt ?? 0));
    expect(b1?.receivedAt).toBeGreaterThan(Math.max(s1?.receivedAt ?? 0, s2?.receivedAt ?? 0));
    const stats = await mock.stats('slow');
    expect(stats).toMatchObject({ requests: 5, lateArrivals: 0, maxConcurrent: 1, withDeadline: 5 });
    expect(await gw?.metric('jarvis_gateway_queue_decisions_total', { result: 'expired' })).toBe(1);
    expect(await gw?.metric('jarvis_gateway_queue_in_flight')).toBe(0);
  });

  it('a config reload with the policy unchanged keeps the waiting requests and the bound', async () => {
    // Slow enough that nothing leaves the queue while the config reloads.
    await mock.configure('slow', { latencyMs: 3000 });
    const first = get('/api/r0');
    await eventually(
      'r0 upstream',
      async () => ((await gw?.metric('jarvis_gateway_queue_in_flight')) === 1 ? true : undefined),
      10_000,
      20,
    );
    const queued = [get('/api/r1'), get('/api/r2')];
    await waiting(2);
    // Another route appears: the config is reloaded, the queue's policy is the same.
    writeFileSync(
      join(dir, 'config', 'config.yaml'),
      config(
        mock.port('slow'),
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: other, namespace: ${NS} }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /other } }], backendRefs: [{ name: slow, port: 80 }] }]
`,
      ),
    );
    await eventually(
      'reloaded',
      async () => ((await gw?.metric('jarvis_gateway_config_updates_total', { result: 'applied' })) ?? 0) >= 2 || undefined,
      10_000,
      50,
    );
    expect(await gw?.metric('jarvis_gateway_queue_depth')).toBe(2);
    await mock.configure('slow', { latencyMs: 200 });
    const more = get('/api/r3');
    const results = await Promise.all([first, ...queued, more]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect((await mock.stats('slow'))['maxConcurrent']).toBe(1);
  });

  it('bad input gets a 4xx problem+json', async () => {
    const unknown = await get('/api/x', { 'x-jarvis-priority': 'platinum' });
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.text)).toMatchObject({ type: expect.stringContaining('unknown-priority-class') });
    const badDeadline = await get('/api/x', { 'x-request-deadline-ms': 'soon' });
    expect(badDeadline.status).toBe(400);
    const big = await fetch(`${gw?.url}/api/async`, { method: 'POST', headers: { prefer: 'respond-async' }, body: 'x'.repeat(2048) });
    expect(big.status).toBe(413);
    expect(big.headers.get('content-type')).toBe('application/problem+json');
    for (const id of ['a..b', 'abc', `${NS}.1234`, `${NS}.${'g'.repeat(32)}`]) {
      const r = await fetch(`${gw?.url}/_jarvis/jobs/${encodeURIComponent(id)}`);
      expect(r.status, id).toBe(400);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
    }
    expect((await fetch(`${gw?.url}/_jarvis/jobs/${NS}.${'0'.repeat(32)}`)).status).toBe(404);

    // A synchronous request that fails for good is dead-lettered; replaying it after a purge is 404.
    await mock.configure('slow', { errorRate: 1, errorStatuses: [500], latencyMs: 0 });
    expect((await get('/api/doomed')).status).toBe(500);
    await mock.configure('slow', { errorRate: 0, latencyMs: 200 });
    const base = `${gw?.adminUrl}/admin/dlq/${NS}/llm`;
    const page = await eventually(
      'the dead letter',
      async () => {
        const p = (await (await fetch(base)).json()) as { entries: { id: string; path: string }[] };
        return p.entries.length > 0 ? p : undefined;
      },
      10_000,
      50,
    );
    expect(page.entries[0]).toMatchObject({ path: '/api/doomed' });
    const id = page.entries[0]?.id ?? '';
    expect((await fetch(`${base}/${id}`, { method: 'DELETE' })).status).toBe(200);
    const replay = await fetch(`${base}/${id}/replay`, { method: 'POST' });
    expect(replay.status).toBe(404);
    expect(replay.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await fetch(`${base}/bogus`)).status).toBe(400);
  });
});
