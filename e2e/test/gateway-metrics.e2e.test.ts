/**
 * The metrics a dashboard needs, from a real gateway process: request duration by status class,
 * per-backend upstream requests, latency and errors (a 5xx answer, a timeout, an unreachable
 * endpoint), and the store mode of a limiter that starts without its Redis.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/envtest/ports.js';
import { startGateway, type GatewayProcess } from '../src/gateway.js';

const NS = 'metrics';
let upstream: http.Server;
let gw: GatewayProcess;
const dir = mkdtempSync(join(tmpdir(), 'jarvis-gw-metrics-'));

const route = (name: string, path: string, service: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${NS} }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: Exact, value: ${path} } }], backendRefs: [{ name: ${service}, port: 80 }] }]
`;

const service = (name: string, port: number) => `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${NS} }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: ${NS}, labels: { kubernetes.io/service-name: ${name} } }
addressType: FQDN
ports: [{ name: http, port: ${port} }]
endpoints: [{ addresses: [${name}.localhost] }]
`;

beforeAll(async () => {
  // /five answers 503, /hang never answers, anything else 200.
  upstream = http.createServer((req, res) => {
    if (req.url === '/hang') return;
    res.writeHead(req.url === '/five' ? 503 : 200, { 'content-type': 'text/plain' }).end('x');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  const nobody = await freePort();
  writeFileSync(
    join(dir, 'config.yaml'),
    `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: ${NS} }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: Same } } }]
${service('up', port)}${service('dead', nobody)}${route('ok', '/ok', 'up')}${route('five', '/five', 'up')}${route('hang', '/hang', 'up')}${route('dead', '/dead', 'dead')}${route('limited', '/limited', 'up')}---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: one-per-hour, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: limited }]
  store: Redis
  failureMode: { mode: Local, timeout: 50ms, expectedReplicas: 1 }
  limits: [{ name: route, scope: Route, algorithm: FixedWindow, rate: { requests: 1, per: 1h } }]
`,
  );
  gw = await startGateway({ name: 'metrics', args: ['--config', dir, '--upstream-headers-timeout', '300ms'] });
});

afterAll(async () => {
  await gw?.stop();
  upstream.closeAllConnections();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway metrics for dashboards', () => {
  it('shows a limiter that starts without its Redis in its failure mode at once', async () => {
    expect(await gw.metric('jarvis_gateway_ratelimit_failure_mode', { policy: `${NS}/one-per-hour`, mode: 'local' })).toBe(1);
  });

  it('times requests by status class and counts upstream calls, latency and failures per backend', async () => {
    const statuses: Record<string, number[]> = {};
    for (const path of ['/ok', '/ok', '/five', '/hang', '/dead', '/limited', '/limited']) {
      const res = await fetch(`${gw.url}${path}`);
      await res.arrayBuffer();
      (statuses[path] ??= []).push(res.status);
    }
    expect(statuses).toEqual({ '/ok': [200, 200], '/five': [503], '/hang': [504], '/dead': [502], '/limited': [200, 429] });

    const m = (name: string, labels: Record<string, string>) => gw.metric(name, labels);
    const up = `${NS}/up:80`;
    const dead = `${NS}/dead:80`;
    // Served answers and the gateway's own fast 429 land in different classes.
    expect(await m('jarvis_gateway_request_duration_seconds_count', { route: `${NS}/ok/rule-0`, status_class: '2xx' })).toBe(2);
    expect(await m('jarvis_gateway_request_duration_seconds_count', { route: `${NS}/limited/rule-0`, status_class: '4xx' })).toBe(1);
    expect(await m('jarvis_gateway_request_duration_seconds_count', { route: `${NS}/hang/rule-0`, status_class: '5xx' })).toBe(1);
    // Upstream calls: the 429 never reached the backend.
    expect(await m('jarvis_gateway_upstream_requests_total', { backend: up, status_class: '2xx' })).toBe(3);
    expect(await m('jarvis_gateway_upstream_requests_total', { backend: up, status_class: '5xx' })).toBe(1);
    expect(await m('jarvis_gateway_upstream_requests_total', { backend: up, status_class: 'none' })).toBe(1);
    expect(await m('jarvis_gateway_upstream_requests_total', { backend: dead, status_class: 'none' })).toBe(1);
    expect(await m('jarvis_gateway_upstream_errors_total', { backend: up, kind: 'server_error' })).toBe(1);
    expect(await m('jarvis_gateway_upstream_errors_total', { backend: up, kind: 'timeout' })).toBe(1);
    expect(await m('jarvis_gateway_upstream_errors_total', { backend: dead, kind: 'unavailable' })).toBe(1);
    expect(await m('jarvis_gateway_upstream_duration_seconds_count', { backend: up })).toBe(5);
    // The timed-out call took at least the headers timeout (300 ms), timed like the others.
    expect(await m('jarvis_gateway_upstream_duration_seconds_sum', { backend: up })).toBeGreaterThanOrEqual(0.3);
    expect(await m('jarvis_gateway_upstream_duration_seconds_bucket', { backend: up, le: '0.25' })).toBeLessThanOrEqual(4);
  });
});
