/** Focused tests of the translator's tricky functions. */
import { describe, expect, it } from 'vitest';
import { compareMatchPrecedence } from '../ir/order.js';
import type { MatchIR, PolicyRef } from '../ir/types.js';
import { durationMs } from './duration.js';
import { routeHostnames } from './hostnames.js';
import { mergeRateLimits } from './merge.js';
import type { CompiledRateLimit } from './compile/ratelimit.js';
import { compareAge } from './policyref.js';
import type { Meta } from './model.js';
import { translate } from './translate.js';
import { CONTROLLER_NAME } from './constants.js';

describe('durationMs', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1h0m1s1ms', 3_601_001],
    ['168h', 604_800_000],
  ])('%s = %d ms', (text, ms) => expect(durationMs(text)).toBe(ms));
  it.each(['', '30', '30 seconds', 's', '1d', '-1s', '1s ', '1.5s'])('%j is not a duration', (text) => expect(durationMs(text)).toBeNaN());
});

describe('routeHostnames', () => {
  it('keeps the route hostnames when the listener has none, and vice versa', () => {
    expect(routeHostnames(['a.example.com'], undefined)).toEqual(['a.example.com']);
    expect(routeHostnames([], '*.example.com')).toEqual(['*.example.com']);
    expect(routeHostnames([], undefined)).toEqual([]);
  });
  it('intersects to the more specific name', () => {
    expect(routeHostnames(['a.example.com', 'b.example.org', 'x.y.example.com'], '*.example.com')).toEqual([
      'a.example.com',
      'x.y.example.com',
    ]);
    expect(routeHostnames(['*.example.com'], 'api.example.com')).toEqual(['api.example.com']);
    expect(routeHostnames(['*.a.example.com'], '*.example.com')).toEqual(['*.a.example.com']);
    expect(routeHostnames(['*.example.com'], '*.a.example.com')).toEqual(['*.a.example.com']);
  });
  it('has no intersection for unrelated names and for the bare wildcard domain', () => {
    expect(routeHostnames(['example.com'], '*.example.com')).toBeUndefined();
    expect(routeHostnames(['a.example.org'], 'a.example.com')).toBeUndefined();
  });
});

describe('compareMatchPrecedence', () => {
  const m = (type: MatchIR['path']['type'], value: string, extra: Partial<MatchIR> = {}): MatchIR => ({
    path: { type, value },
    headers: [],
    queryParams: [],
    ...extra,
  });
  const h = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `h${i}`, type: 'Exact' as const, value: 'v' }));
  it('orders exact, regex, longest prefix, method, headers, query params', () => {
    const matches = [
      m('PathPrefix', '/', { queryParams: h(3) }),
      m('PathPrefix', '/'),
      m('PathPrefix', '/', { headers: h(1) }),
      m('PathPrefix', '/', { method: 'GET' }),
      m('PathPrefix', '/api'),
      m('RegularExpression', '/a.*'),
      m('Exact', '/'),
      m('PathPrefix', '/', { headers: h(1), queryParams: h(1) }),
    ];
    const sorted = [...matches].sort(compareMatchPrecedence);
    expect(sorted).toEqual([matches[6], matches[5], matches[4], matches[3], matches[7], matches[2], matches[0], matches[1]]);
  });
  it('ties on equal specificity', () => {
    expect(compareMatchPrecedence(m('PathPrefix', '/a'), m('PathPrefix', '/b'))).toBe(0);
  });
});

describe('compareAge (GEP-713: older wins, then namespace/name)', () => {
  const meta = (name: string, creationTimestamp?: string, namespace = 'ns'): Meta => ({
    namespace,
    name,
    generation: 1,
    labels: {},
    ...(creationTimestamp ? { creationTimestamp } : {}),
  });
  it('orders by timestamp, then namespace/name; objects without one are the newest', () => {
    const list = [
      meta('c'),
      meta('b', '2024-02-01T00:00:00Z'),
      meta('z', '2024-01-01T00:00:00Z'),
      meta('a'),
      meta('a', '2024-02-01T00:00:00Z', 'aa'),
    ];
    expect([...list].sort(compareAge).map((x) => `${x.namespace}/${x.name}`)).toEqual(['ns/z', 'aa/a', 'ns/b', 'ns/a', 'ns/c']);
  });
});

describe('mergeRateLimits', () => {
  const ref = (name: string): PolicyRef => ({ kind: 'RateLimitPolicy', namespace: 'ns', name, generation: 1 });
  const level = (name: string, source: PolicyRef, limit: number): CompiledRateLimit['levels'][number] => ({
    name,
    counter: `ns/${source.name}/${name}`,
    scope: 'Global',
    algorithm: 'FixedWindow',
    limit,
    periodMs: 1000,
    cost: { type: 'Fixed', amount: 1 },
    action: { type: 'Reject' },
    methods: [],
    headers: [],
    tenantOverrides: [],
    mode: 'Enforce',
    source,
  });
  const compiled = (r: PolicyRef, levels: [string, number][], store: 'Redis' | 'Memory' = 'Redis'): CompiledRateLimit => ({
    levels: levels.map(([n, l]) => level(n, r, l)),
    store,
    failureMode: { mode: 'Open', timeoutMs: 50, expectedReplicas: 1 },
  });

  it('merges by level name, the first (most specific) policy winning, and lists only contributors', () => {
    const route = ref('route');
    const gateway = ref('gateway');
    const shadowed = ref('shadowed');
    const merged = mergeRateLimits([
      {
        ref: route,
        compiled: compiled(
          route,
          [
            ['per-ip', 10],
            ['per-user', 5],
          ],
          'Memory',
        ),
      },
      {
        ref: gateway,
        compiled: compiled(gateway, [
          ['per-ip', 100],
          ['global', 1000],
        ]),
      },
      { ref: shadowed, compiled: compiled(shadowed, [['global', 1]]) },
    ]);
    expect(merged?.levels.map((l) => [l.name, l.limit, l.source.name])).toEqual([
      ['global', 1000, 'gateway'],
      ['per-ip', 10, 'route'],
      ['per-user', 5, 'route'],
    ]);
    expect(merged?.store).toBe('Memory');
    expect(merged?.policies.map((p) => p.name)).toEqual(['gateway', 'route']);
  });

  it('is undefined without candidates', () => expect(mergeRateLimits([])).toBeUndefined());
});

describe('translate', () => {
  it('reports an object it cannot parse and goes on', () => {
    const result = translate(
      {
        objects: [
          null,
          { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: { listeners: 'x' } },
          { kind: 'ConfigMap' },
        ],
      },
      { controllerName: CONTROLLER_NAME },
    );
    expect(result.problems.map((p) => [p.index, p.path, p.message])).toEqual([
      [0, '', 'not an object'],
      [1, 'spec.gatewayClassName', 'required'],
    ]);
    expect(result.ir).toEqual({ gateways: [], backends: [] });
  });

  it('keeps a policy with a broken spec as Invalid, and one without a name as a problem', () => {
    const result = translate(
      {
        objects: [
          {
            apiVersion: 'stability.jarvis.io/v1alpha1',
            kind: 'QueuePolicy',
            metadata: { name: 'q', uid: 'u-1', generation: 4 },
            spec: { maxInFlight: 0 },
          },
          { apiVersion: 'stability.jarvis.io/v1alpha1', kind: 'QueuePolicy', metadata: {}, spec: {} },
          { apiVersion: 'stability.jarvis.io/v1beta9', kind: 'QueuePolicy', metadata: { name: 'v' }, spec: {} },
        ],
        defaultNamespace: 'team',
      },
      { controllerName: CONTROLLER_NAME },
    );
    expect(result.policies).toEqual([
      {
        ref: { kind: 'QueuePolicy', namespace: 'team', name: 'q', generation: 4, uid: 'u-1' },
        accepted: { status: false, reason: 'Invalid', message: expect.stringContaining('spec.targetRefs: Required value') },
        findings: [
          { path: 'spec.targetRefs', message: 'Required value' },
          { path: 'spec.maxInFlight', message: 'Invalid value: 0: should be greater than or equal to 1' },
          // A required field is missing: like the apiserver, no CEL rule ran.
          { path: '', message: expect.stringMatching(/^Invalid value: "null": some validation rules were not checked/) },
        ],
        features: ['stability.jarvis.io/QueuePolicy'],
      },
    ]);
    // maxInFlight is optional (adaptive may replace it, and either may sit inside defaults or
    // overrides); the CEL rule that asks for one of them is not run on a spec whose required fields
    // are missing, as on the apiserver ('' says so).
    expect(result.problems.map((p) => p.path)).toEqual(['metadata.name', 'spec.targetRefs', '', 'apiVersion', 'spec.targetRefs', '']);
  });
});
