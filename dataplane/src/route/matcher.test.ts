import { translate, CONTROLLER_NAME } from '@jarvis/api';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { compileMatcher, type RequestLine } from './matcher.js';

const base = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: ${CONTROLLER_NAME} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: ns }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: Same } } }]
---
apiVersion: v1
kind: Service
metadata: { name: svc, namespace: ns }
spec: { ports: [{ name: http, port: 80 }] }
`;

function route(name: string, spec: string, created = '2026-01-01T00:00:00Z'): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ns, creationTimestamp: "${created}" }
spec:
  parentRefs: [{ name: gw }]
${spec}`;
}

function matcherOf(...routes: string[]) {
  const objects = yaml.loadAll(base + routes.join('\n'));
  const { ir } = translate({ objects }, { controllerName: CONTROLLER_NAME });
  const gateway = ir.gateways[0];
  if (!gateway) throw new Error('no gateway');
  const m = compileMatcher(gateway);
  return (path: string, opts: { method?: string; host?: string; headers?: Record<string, string>; query?: string } = {}) => {
    const req: RequestLine = {
      method: opts.method ?? 'GET',
      path,
      query: opts.query ?? '',
      host: opts.host ?? 'gw.local',
      header: (n) => opts.headers?.[n],
    };
    return m.match(req)?.route.name;
  };
}

const rule = (match: string) => `  rules: [{ matches: [${match}], backendRefs: [{ name: svc, port: 80 }] }]`;

describe('compiled HTTPRoute matcher', () => {
  it('prefers exact over regex over the longest prefix, matching prefixes by segment', () => {
    const m = matcherOf(
      route('root', rule('{ path: { type: PathPrefix, value: / } }')),
      route('api', rule('{ path: { type: PathPrefix, value: /api } }')),
      route('api-v1', rule('{ path: { type: PathPrefix, value: /api/v1/ } }')),
      route('exact', rule('{ path: { type: Exact, value: /api/v1/chat } }')),
      route('regex', rule('{ path: { type: RegularExpression, value: "/api/v1/c[a-z]+" } }')),
    );
    expect(m('/api/v1/chat')).toBe('exact');
    expect(m('/api/v1/cat')).toBe('regex');
    expect(m('/api/v1/cat/x')).toBe('api-v1');
    expect(m('/api/v1')).toBe('api-v1');
    expect(m('/api/v10')).toBe('api');
    expect(m('/apix')).toBe('root');
  });

  it('breaks path ties by method, then headers, then query params, then age', () => {
    const m = matcherOf(
      route('plain', rule('{ path: { type: PathPrefix, value: /x } }'), '2026-01-01T00:00:00Z'),
      route('post', rule('{ path: { type: PathPrefix, value: /x }, method: POST }')),
      route('hdr', rule('{ path: { type: PathPrefix, value: /x }, headers: [{ name: X-Tier, value: gold }] }')),
      route('qry', rule('{ path: { type: PathPrefix, value: /x }, queryParams: [{ name: v, type: RegularExpression, value: "[0-9]+" }] }')),
      route('younger-plain', rule('{ path: { type: PathPrefix, value: /x } }'), '2026-06-01T00:00:00Z'),
    );
    expect(m('/x', { method: 'POST' })).toBe('post');
    expect(m('/x', { headers: { 'x-tier': 'gold' } })).toBe('hdr');
    expect(m('/x', { query: 'v=12' })).toBe('qry');
    expect(m('/x', { query: 'v=ab' })).toBe('plain');
  });

  it('matches hosts before paths: exact, then the longest wildcard, then any host', () => {
    const m = matcherOf(
      route('any', rule('{ path: { type: Exact, value: /p } }')),
      route('wild', `  hostnames: ["*.example.com"]\n${rule('{ path: { type: PathPrefix, value: / } }')}`),
      route('deep', `  hostnames: ["*.a.example.com"]\n${rule('{ path: { type: PathPrefix, value: / } }')}`),
      route('exact-host', `  hostnames: [api.example.com]\n${rule('{ path: { type: PathPrefix, value: /only } }')}`),
    );
    expect(m('/only', { host: 'api.example.com' })).toBe('exact-host');
    expect(m('/p', { host: 'api.example.com' })).toBe('wild');
    expect(m('/p', { host: 'x.a.example.com' })).toBe('deep');
    expect(m('/p', { host: 'other.org' })).toBe('any');
    expect(m('/q', { host: 'other.org' })).toBeUndefined();
  });
});

const translated = (...routes: string[]) =>
  translate({ objects: yaml.loadAll(base + routes.join('\n')) }, { controllerName: CONTROLLER_NAME });

describe('regular expressions (RE2, linear time)', () => {
  it('matches (a+)+$ against a 10,000-character path without backtracking', () => {
    const m = matcherOf(
      route('redos', rule('{ path: { type: RegularExpression, value: "/(a+)+$" } }')),
      route('root', rule('{ path: { type: PathPrefix, value: / } }')),
    );
    const long = `/${'a'.repeat(10_000)}`;
    // A backtracking engine needs ~2^10000 steps to reject the second path: this test never ends there.
    expect(m(long)).toBe('redos');
    expect(m(`${long}!`)).toBe('root');
  });

  it('applies to header and query values too, always against the whole value', () => {
    const m = matcherOf(
      route(
        'hdr',
        rule('{ path: { type: PathPrefix, value: /h }, headers: [{ name: x-id, type: RegularExpression, value: "(x+x+)+y" }] }'),
      ),
      route('qry', rule('{ path: { type: PathPrefix, value: /q }, queryParams: [{ name: v, type: RegularExpression, value: "[0-9]+" }] }')),
    );
    expect(m('/h', { headers: { 'x-id': `${'x'.repeat(5000)}y` } })).toBe('hdr');
    expect(m('/h', { headers: { 'x-id': 'x'.repeat(5000) } })).toBeUndefined();
    expect(m('/q', { query: 'v=12' })).toBe('qry');
    expect(m('/q', { query: 'v=12a' })).toBeUndefined();
  });

  it('has RE2 syntax: (?i) and \\pL work; lookahead and backreferences do not compile', () => {
    const m = matcherOf(route('ci', rule('{ path: { type: RegularExpression, value: "/(?i)chat/\\\\pL+" } }')));
    expect(m('/CHAT/été')).toBe('ci');
    const result = translated(
      route('look', rule('{ path: { type: RegularExpression, value: "/(?!admin).*" } }')),
      route('back', rule('{ path: { type: RegularExpression, value: "/(a)\\\\1" } }')),
    );
    expect(result.ir.gateways[0]?.routes).toEqual([]);
    expect(result.routes.map((r) => [r.route.name, r.accepted.reason])).toEqual([
      ['back', 'UnsupportedValue'],
      ['look', 'UnsupportedValue'],
    ]);
    expect(result.routes[1]?.accepted.message).toMatch(
      /spec\.rules\[0\]\.matches\[0\]\.path\.value: invalid regular expression "\/\(\?!admin\)\.\*": not valid RE2 syntax/,
    );
    // The gateway refuses such a pattern from xDS as well (a trial compile before the ACK).
    const gateway = translated(route('ok', rule('{ path: { type: PathPrefix, value: / } }'))).ir.gateways[0]!;
    const bad = {
      ...gateway,
      routes: gateway.routes.map((r) => ({
        ...r,
        matches: [{ ...r.matches[0]!, path: { type: 'RegularExpression' as const, value: '(?<=x)y' } }],
      })),
    };
    expect(() => compileMatcher(bad)).toThrow(/invalid regular expression "\(\?<=x\)y": not valid RE2 syntax/);
  });

  it('refuses a pattern whose program is too large to match cheaply', () => {
    const result = translated(route('big', rule('{ path: { type: RegularExpression, value: "/.{0,300}x.{0,300}" } }')));
    expect(result.routes[0]?.accepted).toMatchObject({ status: false, reason: 'UnsupportedValue' });
    expect(result.routes[0]?.accepted.message).toMatch(/too complex: compiles to \d+ RE2 instructions, at most 500/);
  });
});
