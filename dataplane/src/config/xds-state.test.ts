import {
  BACKEND_TYPE_URL,
  CONTROLLER_NAME,
  GATEWAY_TYPE_URL,
  decodeResource,
  encodeResource,
  translate,
  type BackendIR,
  type DecodedResource,
  type GatewayIR,
} from '@jarvis/api';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import type { GatewayConfig } from './types.js';
import { XdsConfigState } from './xds-state.js';

/** One Gateway `ns/gw` with a route to each of `services` (each Service on port 80, one slice per endpoint given). */
function ir(services: Record<string, readonly string[]>): { gateway: GatewayIR; backends: BackendIR[] } {
  const docs = [
    `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: ${CONTROLLER_NAME} }`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: ns }
spec: { gatewayClassName: jarvis, listeners: [{ name: http, protocol: HTTP, port: 8080 }] }`,
  ];
  for (const [svc, endpoints] of Object.entries(services)) {
    docs.push(`apiVersion: v1
kind: Service
metadata: { name: ${svc}, namespace: ns }
spec: { ports: [{ name: http, port: 80 }] }`);
    docs.push(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${svc}, namespace: ns }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /${svc} } }], backendRefs: [{ name: ${svc}, port: 80 }] }]`);
    endpoints.forEach((host, i) =>
      docs.push(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${svc}-${i}, namespace: ns, labels: { kubernetes.io/service-name: ${svc} } }
addressType: FQDN
ports: [{ name: http, port: ${8000 + i} }]
endpoints: [{ addresses: [${host}] }]`),
    );
  }
  const result = translate({ objects: docs.map((d) => yaml.load(d)) }, { controllerName: CONTROLLER_NAME });
  const gateway = result.ir.gateways[0];
  if (!gateway) throw new Error(`no gateway: ${JSON.stringify(result.problems)}`);
  return { gateway, backends: result.ir.backends };
}

function decoded(typeUrl: typeof GATEWAY_TYPE_URL | typeof BACKEND_TYPE_URL, objects: readonly { id: string }[]): DecodedResource[] {
  return objects.map((o) => {
    const d = decodeResource(encodeResource(typeUrl, o), typeUrl);
    if (!d.ok) throw new Error(d.error);
    return d.resource;
  });
}

const backends = (b: readonly BackendIR[]) => decoded(BACKEND_TYPE_URL, b);
const gateways = (g: readonly GatewayIR[]) => decoded(GATEWAY_TYPE_URL, g);

/** The endpoints a config would send to, by backend id. */
const endpointsOf = (c: GatewayConfig | undefined) =>
  Object.fromEntries((c?.backends ?? []).map((b) => [b.id, b.endpoints.map((e) => `${e.address}:${e.port}`)]));

function recorder(fail?: (c: GatewayConfig) => string | undefined) {
  const applied: GatewayConfig[] = [];
  return {
    applied,
    apply: (c: GatewayConfig) => {
      const error = fail?.(c);
      if (error) return { ok: false as const, error };
      applied.push(c);
      return { ok: true as const };
    },
  };
}

describe('XdsConfigState', () => {
  it('compiles the running Gateway again when only its backends change (endpoints scaled 1 → 3 → 1 → 0)', () => {
    const one = ir({ api: ['a.localhost'] });
    const three = ir({ api: ['a.localhost', 'b.localhost', 'c.localhost'] });
    const none = ir({ api: [] });
    expect(three.gateway).toEqual(one.gateway); // only the backends differ
    const r = recorder();
    const state = new XdsConfigState('ns/gw', r.apply);
    expect(state.onBackends(backends(one.backends))).toEqual({ ok: true }); // no Gateway yet: nothing to compile
    const first = state.onGateways(gateways([one.gateway]));
    expect(first.ok && first.applied).toBeTruthy();
    expect(r.applied).toHaveLength(1);

    const up = state.onBackends(backends(three.backends));
    expect(up.ok).toBe(true);
    expect(r.applied).toHaveLength(2);
    expect(r.applied[1]?.gateway).toEqual(one.gateway);
    expect(endpointsOf(r.applied[1])).toEqual({ 'ns/api:80': ['a.localhost:8000', 'b.localhost:8001', 'c.localhost:8002'] });
    expect(up.ok && up.applied).toBe(r.applied[1]);
    expect(r.applied[1]?.version).not.toBe(r.applied[0]?.version);

    state.onBackends(backends(one.backends));
    expect(endpointsOf(r.applied[2])).toEqual({ 'ns/api:80': ['a.localhost:8000'] });
    expect(r.applied[2]?.version).toBe(r.applied[0]?.version); // same content, same version
    state.onBackends(backends(none.backends));
    expect(endpointsOf(r.applied[3])).toEqual({ 'ns/api:80': [] });
  });

  it('NACKs backends that do not compile with the running Gateway, and keeps the running config and backends', () => {
    const one = ir({ api: ['a.localhost'] });
    const three = ir({ api: ['a.localhost', 'b.localhost', 'c.localhost'] });
    const r = recorder((c) => (c.backends.some((b) => b.endpoints.length > 2) ? 'too many endpoints for this test' : undefined));
    const state = new XdsConfigState('ns/gw', r.apply);
    state.onBackends(backends(one.backends));
    state.onGateways(gateways([one.gateway]));
    const decision = state.onBackends(backends(three.backends));
    expect(decision).toEqual({ ok: false, error: 'backends do not compile with Gateway ns/gw: too many endpoints for this test' });
    expect(r.applied).toHaveLength(1);
    // The held backends are still the accepted ones: the same set again is no change.
    expect(state.onBackends(backends(one.backends))).toEqual({ ok: true });
    expect(r.applied).toHaveLength(1);
  });

  it('NACKs an invalid backend without compiling', () => {
    const one = ir({ api: ['a.localhost'] });
    const r = recorder();
    const state = new XdsConfigState('ns/gw', r.apply);
    state.onBackends(backends(one.backends));
    state.onGateways(gateways([one.gateway]));
    const bad = { ...one.backends[0], endpoints: [{ address: '', port: -1 }] } as unknown as BackendIR;
    const decision = state.onBackends(backends([bad]));
    expect(decision.ok).toBe(false);
    expect(r.applied).toHaveLength(1);
  });

  it('ACKs the same backends again without compiling', () => {
    const one = ir({ api: ['a.localhost'] });
    const r = recorder();
    const state = new XdsConfigState('ns/gw', r.apply);
    state.onBackends(backends(one.backends));
    state.onGateways(gateways([one.gateway]));
    expect(state.onBackends(backends(one.backends))).toEqual({ ok: true });
    expect(state.onGateways(gateways([one.gateway]))).toEqual({ ok: true });
    expect(r.applied).toHaveLength(1);
  });

  it('make-before-break: new backends first, then the Gateway, then the old backend goes', () => {
    const before = ir({ old: ['o.localhost'] });
    const after = ir({ fresh: ['f.localhost'] });
    const r = recorder();
    const state = new XdsConfigState('ns/gw', r.apply);
    state.onBackends(backends(before.backends));
    state.onGateways(gateways([before.gateway]));
    // Step 1: the new backend, the old one retained by the server.
    expect(state.onBackends(backends([...before.backends, ...after.backends])).ok).toBe(true);
    expect(Object.keys(endpointsOf(r.applied.at(-1)))).toEqual(['ns/fresh:80', 'ns/old:80']);
    // Step 2: the Gateway that uses the new backend.
    expect(state.onGateways(gateways([after.gateway])).ok).toBe(true);
    expect(r.applied.at(-1)?.gateway).toEqual(after.gateway);
    // Step 3: the old backend removed.
    expect(state.onBackends(backends(after.backends)).ok).toBe(true);
    expect(Object.keys(endpointsOf(r.applied.at(-1)))).toEqual(['ns/fresh:80']);
  });

  it('keeps a backend the running Gateway still routes to when a backends response drops it before the Gateway moves on', () => {
    const before = ir({ old: ['o.localhost'] });
    const after = ir({ fresh: ['f.localhost'] });
    const r = recorder();
    // A gateway restarted from its state dir: the server does not know what it holds.
    const state = new XdsConfigState('ns/gw', r.apply, {
      gateway: before.gateway,
      backends: before.backends,
      source: 'state',
      version: 'v0',
    });
    expect(state.onBackends(backends(after.backends)).ok).toBe(true);
    expect(endpointsOf(r.applied.at(-1))).toEqual({ 'ns/fresh:80': ['f.localhost:8000'], 'ns/old:80': ['o.localhost:8000'] });
    expect(r.applied.at(-1)?.gateway).toEqual(before.gateway);
    // The Gateway that no longer uses it: only the accepted backends remain.
    expect(state.onGateways(gateways([after.gateway])).ok).toBe(true);
    expect(endpointsOf(r.applied.at(-1))).toEqual({ 'ns/fresh:80': ['f.localhost:8000'] });
  });

  it('NACKs a Gateway that references a backend it has not received, and one that does not compile', () => {
    const one = ir({ api: ['a.localhost'] });
    const two = ir({ api: ['a.localhost'], other: ['x.localhost'] });
    const r = recorder((c) => (c.gateway.routes.length > 1 ? 'two routes refused' : undefined));
    const state = new XdsConfigState('ns/gw', r.apply);
    state.onBackends(backends(one.backends));
    expect(state.onGateways(gateways([two.gateway]))).toEqual({
      ok: false,
      error: 'gateway ns/gw references unknown backends: ns/other:80',
    });
    state.onBackends(backends(two.backends));
    expect(state.onGateways(gateways([two.gateway]))).toEqual({ ok: false, error: 'two routes refused' });
    expect(r.applied).toHaveLength(0);
    expect(state.listing).toBe('present'); // served, but rejected: the NACK says why
  });

  it('keeps the running config when the operator no longer lists our Gateway, and says so', () => {
    const one = ir({ api: ['a.localhost'] });
    const r = recorder();
    const state = new XdsConfigState('ns/gw', r.apply);
    state.onBackends(backends(one.backends));
    state.onGateways(gateways([one.gateway]));
    expect(state.listing).toBe('present');
    expect(state.onGateways([])).toEqual({ ok: true });
    expect(state.listing).toBe('absent');
    expect(r.applied).toHaveLength(1);
  });
});
