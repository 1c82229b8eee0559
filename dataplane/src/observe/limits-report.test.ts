import { CONTROLLER_NAME, createLogger, translate, type GatewayIR } from '@jarvis/api';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import { createMemoryStore, type LimitStore, type LimitStores } from '../policy/ratelimit/index.js';
import { LimitsReport } from './limits-report.js';

/** A Gateway with two routes: `chat` (Local, expectedReplicas 2) and `search` (Open), both store Redis. */
function gateway(chatLimit = 100): GatewayIR {
  const docs = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: ${CONTROLLER_NAME} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: ns }
spec: { gatewayClassName: jarvis, listeners: [{ name: http, protocol: HTTP, port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: svc, namespace: ns }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: ns }
spec: { parentRefs: [{ name: gw }], rules: [{ matches: [{ path: { type: PathPrefix, value: /chat } }], backendRefs: [{ name: svc, port: 80 }] }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: search, namespace: ns }
spec: { parentRefs: [{ name: gw }], rules: [{ matches: [{ path: { type: PathPrefix, value: /search } }], backendRefs: [{ name: svc, port: 80 }] }] }
---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: chat-limits, namespace: ns }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat }]
  store: Redis
  failureMode: { mode: Local, timeout: 50ms, expectedReplicas: 2 }
  limits:
    - { name: chat-global, scope: Route, algorithm: SlidingWindow, rate: { requests: ${chatLimit}, per: 1m } }
    - { name: per-user, scope: User, algorithm: TokenBucket, rate: { requests: 10, per: 1s }, burst: 10 }
  hotspot: { parameters: [{ source: User }], limit: { rate: { requests: 5, per: 500ms }, burst: 5 } }
---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: search-limits, namespace: ns }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: search }]
  store: Redis
  failureMode: { mode: Open, timeout: 50ms }
  limits: [{ name: per-ip, scope: ClientIP, algorithm: FixedWindow, rate: { requests: 600, per: 1m } }]
`;
  const result = translate({ objects: yaml.loadAll(docs) }, { controllerName: CONTROLLER_NAME });
  const gw = result.ir.gateways[0];
  if (!gw) throw new Error(JSON.stringify(result.problems));
  return gw;
}

function setup(redis?: LimitStore) {
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as (typeof lines)[number]) });
  const samples = new Map<string, number>();
  const gauge = {
    reset: () => samples.clear(),
    set: (l: { policy: string; mode: string }, v: number) => void samples.set(`${l.policy}|${l.mode}`, v),
  };
  const stores: LimitStores = { memory: createMemoryStore({ clock: new ManualTime(), maxKeys: 10 }), ...(redis ? { redis } : {}) };
  const report = new LimitsReport({ log, gauge, stores, redisConfigured: redis !== undefined });
  return { lines, samples, report };
}

describe('LimitsReport', () => {
  it('without Redis: warns once per policy which run in Local mode at what limit per level, and which are not enforced', () => {
    const { lines, samples, report } = setup();
    report.applied(gateway());
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(2);
    expect(warnings.find((w) => w['mode'] === 'local')).toMatchObject({
      msg: expect.stringContaining('rate limits of ns/chat-limits run in Local mode (no Redis'),
      mode: 'local',
      routes: ['ns/chat/rule-0'],
      expectedReplicas: 2,
      limits: ['chat-global 50/1m (policy 100/1m)', 'per-user 5/1s (policy 10/1s)', 'hotspot (each hot value) 2/500ms (policy 5/500ms)'],
    });
    expect(warnings.find((w) => w['mode'] === 'open')).toMatchObject({
      msg: expect.stringContaining('ns/search-limits are not enforced'),
      routes: ['ns/search/rule-0'],
    });
    expect(Object.fromEntries(samples)).toEqual({ 'ns/chat-limits|local': 1, 'ns/search-limits|open': 1 });

    // The same limits again (say, an endpoint update): nothing new to say.
    report.applied(gateway());
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(2);
    // Different limits: said again.
    report.applied(gateway(60));
    const again = lines.filter((l) => l.level === 'warn').slice(2);
    expect(again.find((w) => w['mode'] === 'local')?.['limits']).toContain('chat-global 30/1m (policy 60/1m)');
  });

  it('views list each route with its mode and effective limits', () => {
    const { report } = setup();
    report.applied(gateway());
    const chat = report.views().find((v) => v.route === 'ns/chat/rule-0');
    expect(chat?.mode).toBe('local');
    expect(chat?.levels[0]).toMatchObject({ name: 'chat-global', policyRate: { limit: 100 }, effective: { limit: 50 } });
    expect(report.views().find((v) => v.route === 'ns/search/rule-0')?.levels[0]?.effective).toBeUndefined();
  });

  it('with Redis ready: no warning at start; a mode change says so with the Local limits, and the return at info', () => {
    const redis: LimitStore = {
      kind: 'redis',
      ready: () => true,
      check: () => Promise.reject(new Error('unused')),
      adjust: () => Promise.resolve(),
    };
    const { lines, samples, report } = setup(redis);
    const gw = gateway();
    report.applied(gw);
    expect(lines).toHaveLength(0);
    expect(Object.fromEntries(samples)).toEqual({ 'ns/chat-limits|redis': 1, 'ns/search-limits|redis': 1 });
    const chat = gw.routes.find((r) => r.id === 'ns/chat/rule-0');
    if (!chat) throw new Error('no chat route');
    report.modeChanged(chat, 'local', 'redis');
    expect(lines.at(-1)).toMatchObject({
      level: 'warn',
      to: 'local',
      limits: expect.arrayContaining(['chat-global 50/1m (policy 100/1m)']),
    });
    expect(samples.get('ns/chat-limits|local')).toBe(1);
    expect(samples.get('ns/chat-limits|redis')).toBe(0);
    expect(report.views().find((v) => v.route === chat.id)?.mode).toBe('local');
    report.modeChanged(chat, 'redis', 'local');
    expect(lines.at(-1)).toMatchObject({ level: 'info', to: 'redis' });
  });
});
