/**
 * Async jobs and the dead-letter queue with real processes: two jarvis-gateway replicas on one
 * real Redis in front of a flaky mock upstream (30 % of answers fail; it honours Idempotency-Key).
 * 10,000 jobs are submitted across both; one gateway is killed (SIGKILL) mid-run. Every job ends
 * done or in the DLQ — none lost, none completed twice — and once the mock heals, replaying the
 * DLQ completes the rest. JARVIS_E2E_JOBS sets another number of jobs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { platformYaml } from '../src/platform.js';
import { clock, sleep } from '../src/clock.js';
import { startGateway, type GatewayProcess } from '../src/gateway.js';
import { startMockProcess, type MockProcess } from '../src/mocks.js';

const N = Number(process.env['JARVIS_E2E_JOBS'] ?? 10_000);
const NS = `jobs-${randomBytes(4).toString('hex')}`;
const ROUTE = `${NS}/api/rule-0`;

let redis: Redis;
let mock: MockProcess;
let a: GatewayProcess | undefined;
let b: GatewayProcess | undefined;
let dir: string;

function config(mockPort: number): string {
  return `${platformYaml({ namespace: NS, gatewayClass: true, gateway: 'gw', sameNamespaceRoutes: true, service: 'flaky', route: 'api', pathPrefix: '/api', endpoint: { host: 'flaky.localhost', port: mockPort } })}---
apiVersion: stability.jarvis.io/v1alpha1
kind: QueuePolicy
metadata: { name: jobs, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  maxInFlight: 32
  maxQueued: 200
  async:
    maxAttempts: 3
    backoff: { initial: 50ms, max: 200ms }
    attemptTimeout: 10s
    maxPending: 100000
  deadLetter: { maxLength: 100000 }
`;
}

/** Every job's state, read straight from Redis (one pipeline). */
async function states(ids: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 2000) {
    const chunk = ids.slice(i, i + 2000);
    const p = redis.pipeline();
    for (const id of chunk) p.hget(`jarvis:q:{${NS}}:job:${id.split('.')[1]}`, 'state');
    const replies = (await p.exec()) ?? [];
    chunk.forEach((id, j) => out.set(id, String(replies[j]?.[1] ?? 'missing')));
  }
  return out;
}

function count(s: Map<string, string>, ...wanted: string[]): number {
  let n = 0;
  for (const v of s.values()) if (wanted.includes(v)) n++;
  return n;
}

/** DLQ entries' job ids, read through the admin API of `gw` (paging through all). */
async function deadLettered(gw: GatewayProcess): Promise<{ id: string; job: string; reason: string }[]> {
  const out: { id: string; job: string; reason: string }[] = [];
  let after: string | undefined;
  for (;;) {
    const res = await fetch(`${gw.adminUrl}/admin/dlq/${NS}/jobs?limit=1000${after ? `&after=${after}` : ''}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { entries: { id: string; job: string; reason: string }[]; next?: string };
    out.push(...page.entries);
    if (!page.next) return out;
    after = page.next;
  }
}

async function waitFinished(
  ids: readonly string[],
  what: string,
  timeoutMs: number,
  onProgress?: (s: Map<string, string>) => Promise<void>,
) {
  const started = clock.now();
  for (;;) {
    const s = await states(ids);
    if (onProgress) await onProgress(s);
    const finished = count(s, 'done', 'failed');
    if (finished === ids.length) return s;
    if (clock.now() - started > timeoutMs)
      throw new Error(
        `${what}: ${finished}/${ids.length} finished after ${timeoutMs} ms (${JSON.stringify(Object.fromEntries(tally(s)))})`,
      );
    await sleep(500);
  }
}

function tally(s: Map<string, string>): Map<string, number> {
  const t = new Map<string, number>();
  for (const v of s.values()) t.set(v, (t.get(v) ?? 0) + 1);
  return t;
}

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'), { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  mock = await startMockProcess({
    mocks: [{ name: 'flaky', kind: 'chat', errorRate: 0.3, errorStatuses: [500, 503], idempotency: true, latencyMs: 1 }],
  });
  dir = mkdtempSync(join(tmpdir(), 'jarvis-jobs-e2e-'));
  writeFileSync(join(dir, 'config.yaml'), config(mock.port('flaky')));
  const args = ['--config', dir, '--redis', inject('redisUrl'), '--job-reclaim-after', '3s'];
  [a, b] = await Promise.all([startGateway({ name: 'jobs-a', args }), startGateway({ name: 'jobs-b', args })]);
});

afterAll(async () => {
  await a?.kill();
  await b?.stop();
  await mock?.stop();
  rmSync(dir, { recursive: true, force: true });
  const keys = [...(await redis.keys(`jarvis:q:{${NS}}:*`)), ...(await redis.keys(`jarvis:dlq:{${NS}}:*`))];
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  redis.disconnect();
});

describe('async jobs across two gateways, one killed mid-run', () => {
  it(`${N} jobs against a 30 %-failing upstream: each ends done or dead-lettered, none lost or completed twice; replay after healing completes them`, async () => {
    if (!a || !b) throw new Error('gateways not started');
    const gateways = [a, b];
    const pools = gateways.map((g) => new Pool(g.url, { connections: 16 }));
    const ids: string[] = new Array<string>(N);
    const t0 = clock.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N) {
          const i = next++;
          const pool = pools[i % 2] as Pool;
          const res = await pool.request({
            method: 'POST',
            path: `/api/job/${i}`,
            headers: { prefer: 'respond-async', 'idempotency-key': `job-${i}`, 'content-type': 'application/json' },
            body: JSON.stringify({ i }),
          });
          const body = (await res.body.json()) as { id?: string };
          if (res.statusCode !== 202 || !body.id) throw new Error(`job ${i}: ${res.statusCode} ${JSON.stringify(body)}`);
          ids[i] = body.id;
        }
      }),
    );
    await Promise.all(pools.map((p) => p.close()));
    const submittedMs = clock.now() - t0;
    expect(new Set(ids).size).toBe(N);

    // Kill gateway A once a quarter of the jobs are finished, at a moment it holds jobs (read, not finished).
    const stream = `jarvis:q:{${NS}}:jobs:jobs:${ROUTE}`;
    let killedAt: number | undefined;
    let heldByA = 0;
    const first = await waitFinished(ids, 'first run', 240_000, async (s) => {
      if (killedAt !== undefined || count(s, 'done', 'failed') < N / 4) return;
      for (let tries = 0; tries < 500 && heldByA === 0; tries++) {
        const pending = (await redis.xpending(stream, 'workers', '-', '+', 1000)) as [string, string][];
        heldByA = pending.filter((p) => p[1].startsWith('jobs-a-')).length;
        if (heldByA === 0) await sleep(10);
      }
      await a?.kill();
      killedAt = count(s, 'done', 'failed');
    });
    expect(heldByA, 'gateway A held jobs when it was killed').toBeGreaterThan(0);
    const firstMs = clock.now() - t0;
    expect(killedAt).toBeDefined();
    const done = [...first].filter(([, v]) => v === 'done').map(([k]) => k);
    const failed = [...first].filter(([, v]) => v === 'failed').map(([k]) => k);
    expect(done.length + failed.length).toBe(N);

    // Failed jobs are in the DLQ exactly once; done jobs are not.
    const dlq = await deadLettered(b);
    const dlqJobs = dlq.map((e) => e.job);
    expect(new Set(dlqJobs).size).toBe(dlqJobs.length);
    expect(new Set(dlqJobs)).toEqual(new Set(failed));
    // Nothing left behind: no entry pending, none waiting for a retry.
    expect(await redis.xlen(stream)).toBe(0);
    expect(await redis.zcard(`jarvis:q:{${NS}}:delayed:jobs:${ROUTE}`)).toBe(0);

    // The upstream served every done job successfully, and none twice (the same Idempotency-Key on every attempt).
    const served = await mock.jobs('flaky');
    const stats = await mock.stats('flaky');
    expect(stats['jobsCompletedTwice']).toBe(0);
    for (const id of done) expect(served[id], id).toBe(1);
    // A job served but not done was mid-attempt in the killed gateway and ran out of attempts when taken over.
    const reasons = new Map(dlq.map((e) => [e.job, e.reason]));
    const doneSet = new Set(done);
    for (const id of Object.keys(served)) if (!doneSet.has(id)) expect(reasons.get(id), id).toContain('attempts used up');

    // Heal the upstream and replay the DLQ through the surviving gateway's admin API.
    await mock.configure('flaky', { errorRate: 0 });
    const t1 = clock.now();
    for (let i = 0; i < dlq.length; i += 1000) {
      const res = await fetch(`${b.adminUrl}/admin/dlq/${NS}/jobs/replay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ids: dlq.slice(i, i + 1000).map((e) => e.id) }),
      });
      expect(res.status).toBe(200);
      const r = (await res.json()) as { replayed: unknown[]; missing: unknown[]; refused: unknown[] };
      expect(r.missing).toEqual([]);
      expect(r.refused).toEqual([]);
    }
    const second = await waitFinished(ids, 'replay', 120_000);
    expect(count(second, 'done')).toBe(N);
    expect((await deadLettered(b)).length).toBe(0);
    const servedAfter = await mock.jobs('flaky');
    expect(Object.keys(servedAfter).length).toBe(N);
    expect((await mock.stats('flaky'))['jobsCompletedTwice']).toBe(0);
    // Results are served at the job URL.
    const sample = await fetch(`${b.url}/_jarvis/jobs/${ids[N - 1]}`);
    expect(await sample.json()).toMatchObject({ state: 'done', result: { status: 200 } });

    console.log(
      JSON.stringify({
        jobs: N,
        submit_s: submittedMs / 1000,
        first_run_s: firstMs / 1000,
        killed_after_finished: killedAt,
        held_by_killed_gateway: heldByA,
        done_first_run: done.length,
        dead_lettered: failed.length,
        replay_s: (clock.now() - t1) / 1000,
        upstream_requests: stats['requests'],
        idempotent_replays: stats['idempotentReplays'],
      }),
    );
  }, 600_000);
});
