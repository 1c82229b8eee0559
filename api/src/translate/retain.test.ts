import { describe, expect, it } from 'vitest';
import { CONTROLLER_NAME } from './constants.js';
import { LastAccepted } from './retain.js';
import { translate } from './translate.js';

const base: unknown[] = [
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name: 'jarvis' },
    spec: { controllerName: CONTROLLER_NAME },
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'gw', namespace: 'ns' },
    spec: { gatewayClassName: 'jarvis', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] },
  },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'ns' }, spec: { ports: [{ port: 80 }] } },
];

const route = (generation: number, path: unknown, name = 'r') => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name, namespace: 'ns', generation },
  spec: { parentRefs: [{ name: 'gw' }], rules: [{ matches: [{ path }], backendRefs: [{ name: 'svc', port: 80 }] }] },
});

const policy = (generation: number, requests: number, burst?: number) => ({
  apiVersion: 'stability.jarvis.io/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name: 'p', namespace: 'ns', generation },
  spec: {
    targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'r' }],
    limits: [{ name: 'l', scope: 'Route', rate: { requests, per: '1s' }, ...(burst !== undefined ? { burst } : {}) }],
  },
});

const options = { controllerName: CONTROLLER_NAME };
const regex = (value: string) => ({ type: 'RegularExpression', value });
const paths = (r: { ir: { gateways: readonly { routes: readonly { matches: readonly { path: { value: string } }[] }[] }[] } }) =>
  r.ir.gateways[0]?.routes.map((x) => x.matches[0]?.path.value);

describe('LastAccepted: an invalid change keeps the previous version serving', () => {
  it('serves the last accepted version of a route whose new pattern does not compile, and says why', () => {
    const last = new LastAccepted();
    expect(paths(last.translate({ objects: [...base, route(1, regex('/api/v[0-9]+'))] }, options))).toEqual(['/api/v[0-9]+']);

    const broken = { objects: [...base, route(2, regex('/api/(?!admin)'))] };
    // The translator alone drops the route: that is what LastAccepted prevents.
    expect(paths(translate(broken, options))).toEqual([]);
    const r = last.translate(broken, options);
    expect(paths(r)).toEqual(['/api/v[0-9]+']);
    expect(r.routes).toHaveLength(1);
    expect(r.routes[0]).toMatchObject({
      route: { namespace: 'ns', name: 'r', generation: 2 },
      accepted: { status: false, reason: 'UnsupportedValue' },
    });
    expect(r.routes[0]?.accepted.message).toMatch(/invalid regular expression "\/api\/\(\?!admin\)".*; generation 1 keeps serving$/);
    expect(r.retained).toEqual([
      expect.objectContaining({ kind: 'HTTPRoute', namespace: 'ns', name: 'r', generation: 2, servingGeneration: 1, fresh: true }),
    ]);
    expect(r.retained[0]?.reason).toContain('spec.rules[0].matches[0].path.value: invalid regular expression');

    // The same rejected generation again: still served from generation 1, reported once.
    expect(last.translate(broken, options).retained[0]?.fresh).toBe(false);
    // Another broken generation is a new rejected change.
    expect(last.translate({ objects: [...base, route(3, regex('(a)\\1'))] }, options).retained[0]).toMatchObject({
      generation: 3,
      fresh: true,
    });
    // A valid one is served and remembered.
    const fixed = last.translate({ objects: [...base, route(4, regex('/v2/.*'))] }, options);
    expect(fixed.retained).toEqual([]);
    expect(paths(fixed)).toEqual(['/v2/.*']);
    expect(fixed.routes[0]?.accepted.status).toBe(true);
    expect(paths(last.translate({ objects: [...base, route(5, regex('['))] }, options))).toEqual(['/v2/.*']);
  });

  it('serves the previous version of a route whose new version does not parse, with its parents', () => {
    const last = new LastAccepted();
    last.translate({ objects: [...base, route(1, { type: 'Exact', value: '/a' })] }, options);
    const unparsable = { ...route(2, { type: 'Exact', value: '/a' }), spec: { parentRefs: [{ name: 'gw' }], rules: 5 } };
    const r = last.translate({ objects: [...base, unparsable] }, options);
    expect(paths(r)).toEqual(['/a']);
    expect(r.problems).toEqual([]);
    expect(r.routes).toEqual([
      expect.objectContaining({
        route: { namespace: 'ns', name: 'r', generation: 2 },
        accepted: { status: false, reason: 'UnsupportedValue', message: 'spec.rules: must be a list; generation 1 keeps serving' },
      }),
    ]);
  });

  it('keeps enforcing the previous version of a policy whose new version is Invalid', () => {
    const last = new LastAccepted();
    const route1 = route(1, { type: 'PathPrefix', value: '/' });
    last.translate({ objects: [...base, route1, policy(1, 10)] }, options);
    const r = last.translate({ objects: [...base, route1, policy(2, 20, 5)] }, options); // burst below rate
    expect(r.ir.gateways[0]?.routes[0]?.rateLimit?.levels[0]?.limit).toBe(10);
    expect(r.ir.gateways[0]?.routes[0]?.rateLimit?.policies).toEqual([
      { kind: 'RateLimitPolicy', namespace: 'ns', name: 'p', generation: 1 },
    ]);
    expect(r.policies).toEqual([
      expect.objectContaining({
        ref: expect.objectContaining({ name: 'p', generation: 2 }),
        accepted: expect.objectContaining({
          status: false,
          reason: 'Invalid',
          message: expect.stringMatching(/burst.*; generation 1 keeps serving$/),
        }),
      }),
    ]);
    expect(r.retained).toEqual([expect.objectContaining({ kind: 'RateLimitPolicy', generation: 2, servingGeneration: 1 })]);
  });

  it('has nothing to fall back on for an object never accepted, and forgets deleted objects', () => {
    const last = new LastAccepted();
    const r = last.translate({ objects: [...base, route(1, regex('(?='))] }, options);
    expect(paths(r)).toEqual([]);
    expect(r.retained).toEqual([]);
    expect(r.routes[0]?.accepted).toMatchObject({ status: false, reason: 'UnsupportedValue' });

    last.translate({ objects: [...base, route(1, regex('/x')), route(1, regex('/y'), 'other')] }, options);
    expect(last.size).toBe(base.length + 2);
    last.translate({ objects: [...base, route(1, regex('/y'), 'other')] }, options); // r deleted
    expect(last.size).toBe(base.length + 1);
    // Re-created broken: the deleted version is not resurrected.
    expect(paths(last.translate({ objects: [...base, route(1, regex('(?=')), route(1, regex('/y'), 'other')] }, options))).toEqual(['/y']);
  });

  it('counts a rejected file version (no generation) once, by content', () => {
    const last = new LastAccepted();
    const r0 = { ...route(0, regex('/ok')) };
    last.translate({ objects: [...base, r0] }, options);
    const bad = route(0, regex('('));
    expect(last.translate({ objects: [...base, bad] }, options).retained[0]).toMatchObject({ fresh: true, servingGeneration: 0 });
    expect(last.translate({ objects: [...base, structuredClone(bad)] }, options).retained[0]?.fresh).toBe(false);
    const r = last.translate({ objects: [...base, route(0, regex('[z'))] }, options);
    expect(r.retained[0]?.fresh).toBe(true);
    expect(r.routes[0]?.accepted.message).toMatch(/; the previous version keeps serving$/);
  });
});
