/**
 * A gateway without Redis whose policies say `store: Redis`: each policy's failure mode applies
 * from the start, and the gateway says so — a warn line per policy naming the routes and, in
 * Local mode, the limit each level enforces (the policy's divided by expectedReplicas); the
 * failure-mode gauge has a sample for each; /admin/config lists the effective limits; and the
 * gateway does enforce exactly what it logged.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standaloneConfig, startGateway, startUpstream, type GatewayProcess } from '../src/gateway.js';
import { logLines, type LogLine } from '../src/util/logs.js';

const dir = mkdtempSync(join(tmpdir(), 'jarvis-local-mode-'));
let upstream: Awaited<ReturnType<typeof startUpstream>>;
let gateway: GatewayProcess;

const extra = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: open, namespace: e2e }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /open } }], backendRefs: [{ name: upstream, port: 80 }] }]
---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: shared-limits, namespace: e2e }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  store: Redis
  failureMode: { mode: Local, timeout: 50ms, expectedReplicas: 3 }
  limits:
    - { name: per-user, scope: Header, header: x-user, algorithm: FixedWindow, rate: { requests: 9, per: 1m } }
    - name: per-tenant
      scope: Header
      header: x-tenant
      algorithm: TokenBucket
      rate: { requests: 30, per: 1s }
      burst: 60
---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: open-limits, namespace: e2e }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: open }]
  store: Redis
  failureMode: { mode: Open, timeout: 50ms }
  limits:
    - { name: per-user, scope: Header, header: x-user, algorithm: FixedWindow, rate: { requests: 2, per: 1m } }
`;

beforeAll(async () => {
  upstream = await startUpstream();
  writeFileSync(join(dir, 'config.yaml'), standaloneConfig(upstream.port, extra));
  gateway = await startGateway({ name: 'local-mode', args: ['--config', dir] }); // REDIS_URL is emptied for it
});

afterAll(async () => {
  await gateway?.stop();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

const warnings = (): LogLine[] => logLines(readFileSync(gateway.logFile, 'utf8')).filter((l) => l.level === 'warn');

async function admitted(path: string, user: string, max = 20): Promise<{ count: number; policy: string | null }> {
  let policy: string | null = null;
  for (let i = 0; i < max; i++) {
    const res = await fetch(`${gateway.url}${path}`, { headers: { 'x-user': user, 'x-tenant': 't1' } });
    await res.arrayBuffer();
    policy ??= res.headers.get('ratelimit-policy');
    if (res.status === 429) return { count: i, policy };
    expect(res.status).toBe(200);
  }
  return { count: max, policy };
}

describe('policies that want Redis, on a gateway without it', () => {
  it('logs at start, at warn, which policies run in Local mode and the limit each level enforces', () => {
    const local = warnings().find((l) => l['mode'] === 'local');
    expect(local).toBeDefined();
    expect(local?.msg).toContain('rate limits of e2e/shared-limits run in Local mode');
    expect(local?.msg).toContain('no Redis');
    expect(local?.msg).toContain('expectedReplicas=3');
    expect(local).toMatchObject({
      policies: 'e2e/shared-limits',
      routes: ['e2e/api/rule-0'],
      expectedReplicas: 3,
      limits: ['per-tenant 10/1s burst 20 (policy 30/1s burst 60)', 'per-user 3/1m (policy 9/1m)'],
    });
  });

  it('logs a policy that fails Open as not enforced', () => {
    const open = warnings().find((l) => l['mode'] === 'open');
    expect(open?.msg).toContain('rate limits of e2e/open-limits are not enforced');
    expect(open).toMatchObject({ routes: ['e2e/open/rule-0'] });
  });

  it('shows the failure mode in effect on the gauge from the start', async () => {
    expect(await gateway.metric('jarvis_gateway_ratelimit_failure_mode', { policy: 'e2e/shared-limits', mode: 'local' })).toBe(1);
    expect(await gateway.metric('jarvis_gateway_ratelimit_failure_mode', { policy: 'e2e/open-limits', mode: 'open' })).toBe(1);
  });

  it('lists the effective limits in /admin/config', async () => {
    const config = (await fetch(`${gateway.adminUrl}/admin/config`).then((r) => r.json())) as {
      rateLimits: { route: string; mode: string; levels: { name: string; policyRate: unknown; effective?: unknown }[] }[];
    };
    const api = config.rateLimits.find((r) => r.route === 'e2e/api/rule-0');
    expect(api?.mode).toBe('local');
    expect(api?.levels.find((l) => l.name === 'per-user')).toMatchObject({
      policyRate: { limit: 9, periodMs: 60_000 },
      effective: { limit: 3, periodMs: 60_000 },
    });
    const open = config.rateLimits.find((r) => r.route === 'e2e/open/rule-0');
    expect(open?.mode).toBe('open');
    expect(open?.levels[0]?.effective).toBeUndefined();
  });

  it('enforces what it logged: 3 per user in Local mode, nothing in Open mode', async () => {
    const local = await admitted('/api/x', 'alice');
    expect(local.count).toBe(3);
    expect(local.policy).toContain('"per-user";q=3;w=60');
    expect((await admitted('/open/x', 'alice')).count).toBe(20);
  });
});
