/**
 * DegradationPolicy shedPriorityClasses in a real jarvis-gateway process (standalone, real Redis)
 * in front of a mock upstream: slow answers push the route's p95 latency over its trigger, and the
 * batch class of the route's QueuePolicy is shed — the batch request already waiting is answered
 * 503 queue-shed the moment the trigger activates, new batch requests are refused at once and
 * never reach the upstream, while VIP and standard requests are still served; async batch jobs are
 * still accepted and held back (no attempt) until the trigger is over. Once the answers are fast
 * again and the exit threshold has held, batch requests are served again, and the job runs once.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { clock, sleep } from '../src/clock.js';
import { eventually } from '../src/cluster.js';
import { startGateway, type GatewayProcess } from '../src/gateway.js';
import { startMockProcess, type MockProcess } from '../src/mocks.js';
import { platformYaml } from '../src/platform.js';

const NS = `shed-${randomBytes(4).toString('hex')}`;
const HOLD_MS = 1_000;
let mock: MockProcess;
let gw: GatewayProcess | undefined;
let dir: string;
let redis: Redis;

function config(mockPort: number): string {
  return `${platformYaml({ namespace: NS, gatewayClass: true, gateway: 'gw', sameNamespaceRoutes: true, service: 'llm', route: 'api', pathPrefix: '/api', endpoint: { host: 'llm.localhost', port: mockPort } })}---
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
  deadline: { default: 10s, max: 20s }
  async: { maxAttempts: 1 }
---
apiVersion: stability.jarvis.io/v1alpha1
kind: DegradationPolicy
metadata: { name: llm, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  triggers:
    - { name: llm-slow, type: LatencyP95, latency: { activate: 200ms, deactivate: 100ms }, window: 2s, minSamples: 3, holdFor: ${HOLD_MS}ms }
  shedPriorityClasses:
    - { triggers: [llm-slow], classes: [batch] }
`;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

async function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${gw?.url}${path}`, { headers, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const BATCH = { 'x-jarvis-priority': 'batch', 'x-tenant-id': 'nightly' };

async function upstreamRequests(): Promise<number> {
  return Number((await mock.stats('llm'))['requests'] ?? 0);
}

async function triggerActive(): Promise<boolean> {
  const view = (await (await fetch(`${gw?.adminUrl}/admin/features`)).json()) as {
    routes: { triggers: { name: string; active: boolean }[] }[];
  };
  return view.routes.some((r) => r.triggers.some((t) => t.name === 'llm-slow' && t.active));
}

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'), { lazyConnect: true });
  await redis.connect();
  mock = await startMockProcess({ mocks: [{ name: 'llm', kind: 'chat' }] });
  dir = mkdtempSync(join(tmpdir(), 'jarvis-shed-e2e-'));
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'config.yaml'), config(mock.port('llm')));
  writeFileSync(join(dir, 'identity.yaml'), 'trustedProxies: [127.0.0.0/8]\n');
  gw = await startGateway({
    name: 'shed',
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

describe('a DegradationPolicy trigger sheds a priority class', () => {
  it('load activates the trigger: batch is shed (waiting and new), VIP and standard are served; batch is served again after the hold', async () => {
    await mock.configure('llm', { latencyMs: 0 });
    const start = await upstreamRequests();
    expect((await get('/api/calm', BATCH)).status).toBe(200);

    // One request upstream at a time, 300 ms each: the route's p95 goes over 200 ms after three.
    await mock.configure('llm', { latencyMs: 300 });
    let standardsDone = 0;
    const standards = Array.from({ length: 8 }, (_, i) =>
      get(`/api/s${i}`, { 'x-tenant-id': `t${i}` }).then((a) => {
        standardsDone++;
        return a;
      }),
    );
    await eventually(
      'standards queued',
      async () => ((await gw?.metric('jarvis_gateway_queue_depth')) === 7 ? true : undefined),
      10_000,
      20,
    );
    // Behind them (the lowest class): it waits until the trigger activates, then it is shed.
    const waiting = await get('/api/b-waiting', BATCH);
    expect(waiting.status).toBe(503);
    expect(standardsDone).toBeLessThan(8);
    expect(waiting.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(waiting.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(waiting.text)).toMatchObject({
      type: expect.stringContaining('queue-shed'),
      status: 503,
      trigger: 'llm-slow',
      priorityClass: 'batch',
      detail: expect.stringContaining(`Trigger llm-slow of DegradationPolicy ${NS}/llm is active`),
    });
    expect(await triggerActive()).toBe(true);
    const features = (await (await fetch(`${gw?.adminUrl}/admin/features`)).json()) as { routes: { shedPriorityClasses: unknown }[] };
    expect(features.routes[0]?.shedPriorityClasses).toEqual([{ classes: ['batch'], triggers: ['llm-slow'], active: ['llm-slow'] }]);

    // While it holds: a new batch request is refused at once and never reaches the upstream...
    const refused = await get('/api/b-new', BATCH);
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.text)).toMatchObject({ type: expect.stringContaining('queue-shed'), trigger: 'llm-slow' });
    // ...a VIP request is served (ahead of the standard ones still waiting)...
    const vip = await get('/api/vip', { 'x-tenant-id': 'acme' });
    expect(vip.status).toBe(200);
    // ...and every standard request is served.
    expect((await Promise.all(standards)).map((a) => a.status)).toEqual(Array(8).fill(200));
    // The upstream saw the calm batch request, the standard ones and the VIP one: no shed one.
    expect((await upstreamRequests()) - start).toBe(1 + 8 + 1);
    expect(await gw?.metric('jarvis_gateway_queue_decisions_total', { class: 'batch', result: 'shed' })).toBe(2);

    // Async job submissions of the shed class are still accepted — and held back while the trigger
    // is active: the worker defers the job (no attempt) instead of sending it.
    const before = await upstreamRequests();
    const job = await fetch(`${gw?.url}/api/job`, { method: 'POST', headers: { ...BATCH, prefer: 'respond-async' }, body: '{}' });
    expect(job.status).toBe(202);
    await job.arrayBuffer();
    const jobUrl = `${gw?.url}${job.headers.get('location') ?? ''}`;
    const jobState = async (): Promise<{ state?: string; attempts?: number }> =>
      (await (await fetch(jobUrl, { headers: BATCH })).json()) as { state?: string; attempts?: number };
    const queueLabel = { outcome: 'deferred' };
    await eventually(
      'the batch job deferred',
      async () => (((await gw?.metric('jarvis_gateway_jobs_total', queueLabel)) ?? 0) >= 1 ? true : undefined),
      10_000,
      20,
    );
    expect(await jobState()).toMatchObject({ state: 'pending', attempts: 0 });
    expect(await upstreamRequests()).toBe(before);

    // Fast answers: once the slow calls left the window and the calm held, batch is admitted again.
    await mock.configure('llm', { latencyMs: 0 });
    const calmFrom = clock.now();
    let refusals = 0;
    let answer = await get('/api/b-again', BATCH);
    while (answer.status === 503 && clock.now() - calmFrom < 10_000) {
      refusals++;
      await sleep(100);
      answer = await get('/api/b-again', BATCH);
    }
    expect(answer.status).toBe(200);
    expect(refusals).toBeGreaterThan(0);
    expect(clock.now() - calmFrom).toBeGreaterThanOrEqual(HOLD_MS);
    expect(await triggerActive()).toBe(false);
    // The held-back job runs once the trigger is over: one attempt.
    const ran = await eventually(
      'the batch job done',
      async () => {
        const st = await jobState();
        return st.state === 'done' ? st : undefined;
      },
      15_000,
      50,
    );
    expect(ran.attempts).toBe(1);
  });
});
