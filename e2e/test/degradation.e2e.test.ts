/**
 * DegradationPolicy triggers and feature toggles in a real jarvis-gateway process (standalone)
 * in front of mock search services whose latency the test turns up and down at run time: as the
 * load's p95 crosses the trigger, rerank and hybrid_search switch off — the mock sees it in the
 * x-jarvis-features header of every request — and they switch back on only once the exit
 * threshold has held for holdFor; a client cannot set the header itself; the state survives a
 * config reload that leaves the policy unchanged; over a noisy load the trigger's transitions stay
 * within what its hold time allows.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clock, since, sleep } from '../src/clock.js';
import { startGateway, type GatewayProcess } from '../src/gateway.js';
import { startMockProcess, type MockProcess } from '../src/mocks.js';

const NS = 'degrade';
const HOLD_MS = 2_000;
const ON = 'hybrid_search=on, rerank=on, search=on';
const OFF = 'hybrid_search=off, rerank=off, search=on';

const service = (name: string, port: number) => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${NS} }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: ${NS}, labels: { kubernetes.io/service-name: ${name} } }
addressType: FQDN
ports: [{ name: http, port: ${port} }]
endpoints: [{ addresses: [${name}.localhost] }]`;

const route = (name: string, path: string, backend: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${NS} }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: ${path} } }], backendRefs: [{ name: ${backend}, port: 80 }] }]`;

/** p95 over 1 s at or above 300 ms switches rerank and hybrid_search off; below 120 ms for 2 s, back on. */
const policy = (name: string, target: string) => `apiVersion: stability.jarvis.io/v1alpha1
kind: DegradationPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${target} }]
  triggers:
    - name: slow
      type: LatencyP95
      latency: { activate: 300ms, deactivate: 120ms }
      window: 1s
      minSamples: 5
      holdFor: ${HOLD_MS / 1000}s
  featureToggles:
    - { name: rerank, disableWhen: [slow] }
    - { name: hybrid_search, disableWhen: [slow] }
    - { name: search }`;

function config(rag: number, noisy: number, extra: string[] = []): string {
  return [
    `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: ${NS} }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: Same } } }]`,
    service('rag', rag),
    service('noisy', noisy),
    route('rag', '/rag', 'rag'),
    route('noisy', '/noisy', 'noisy'),
    route('plain', '/plain', 'rag'),
    policy('rag', 'rag'),
    policy('noisy', 'noisy'),
    ...extra,
  ].join('\n---\n');
}

let mocks: MockProcess;
/** Load still running when a test failed: stopped before the gateway is. */
const loads: { stop(): Promise<unknown> }[] = [];
let gw: GatewayProcess;
let dir: string;

interface FeaturesView {
  routes: {
    route: string;
    policy: string;
    header: string;
    value: string;
    features: { name: string; enabled: boolean; core: boolean; reason: string | null; trigger: string | null; since: string | null }[];
    triggers: { name: string; active: boolean; since: string | null; value: number | null; activations: number; deactivations: number }[];
  }[];
}

async function features(routeId: string): Promise<FeaturesView['routes'][number]> {
  const view = (await (await fetch(`${gw.adminUrl}/admin/features`)).json()) as FeaturesView;
  const r = view.routes.find((x) => x.route.includes(routeId));
  if (!r) throw new Error(`no route ${routeId} in ${JSON.stringify(view)}`);
  return r;
}

async function lastFeatures(mock: string): Promise<string | null> {
  return (await mocks.stats(mock)).lastFeatures as string | null;
}

/** Keeps `concurrency` requests to `path` going until stopped; counts answers by status. */
function load(path: string, concurrency: number, headers: Record<string, string> = {}): { stop(): Promise<Record<number, number>> } {
  let running = true;
  const statuses: Record<number, number> = {};
  const worker = async (): Promise<void> => {
    while (running) {
      // A failed fetch counts as status 0 (and fails the test's status check), never an unhandled rejection.
      const status = await fetch(`${gw.url}${path}`, { headers }).then(
        async (res) => {
          await res.arrayBuffer();
          return res.status;
        },
        () => 0,
      );
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  const handle = {
    async stop() {
      running = false;
      await Promise.all(workers);
      return statuses;
    },
  };
  loads.push(handle);
  return handle;
}

beforeAll(async () => {
  mocks = await startMockProcess({
    mocks: [
      { name: 'rag', kind: 'trivial', latencyMs: 5 },
      { name: 'noisy', kind: 'trivial', latencyMs: 5 },
    ],
  });
  dir = mkdtempSync(join(tmpdir(), 'jarvis-degradation-e2e-'));
  writeFileSync(join(dir, 'config.yaml'), config(mocks.port('rag'), mocks.port('noisy')));
  gw = await startGateway({ name: 'degradation', args: ['--config', dir] });
}, 60_000);

afterAll(async () => {
  await Promise.all(loads.map((l) => l.stop()));
  await gw?.stop();
  await mocks?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('DegradationPolicy triggers and feature toggles', () => {
  it('switches rerank and hybrid_search off once p95 crosses the trigger, and back on only after the exit threshold held', async () => {
    // Light load, fast answers: every feature on, and the upstream is told so on every request.
    let traffic = load('/rag/search', 8);
    await sleep(1_200);
    expect(await features('rag')).toMatchObject({ header: 'x-jarvis-features', value: ON });
    expect((await mocks.stats('rag')).features).toEqual({ [ON]: expect.any(Number) });
    // The load rises: the upstream's latency climbs in steps; below 300 ms nothing switches.
    for (const latencyMs of [30, 100]) {
      await mocks.configure('rag', { latencyMs });
      await sleep(1_200);
      const view = await features('rag');
      expect(view.triggers[0], JSON.stringify(view.triggers[0])).toMatchObject({ name: 'slow', active: false });
      expect(view.value).toBe(ON);
    }
    expect(Object.keys((await mocks.stats('rag')).features as object)).toEqual([ON]);
    // Past the trigger: p95 ≥ 300 ms switches the non-core features off, search (core) stays on.
    await mocks.configure('rag', { latencyMs: 450 });
    const crossed = clock.now();
    await expect.poll(async () => (await features('rag')).value, { timeout: 5_000, interval: 100 }).toBe(OFF);
    const view = await features('rag');
    expect(view.triggers[0]).toMatchObject({ name: 'slow', active: true, activations: 1 });
    expect(view.triggers[0]?.value).toBeGreaterThanOrEqual(300);
    expect(view.features).toEqual([
      expect.objectContaining({ name: 'hybrid_search', enabled: false, core: false, reason: 'trigger', trigger: 'slow' }),
      expect.objectContaining({ name: 'rerank', enabled: false, core: false, reason: 'trigger', trigger: 'slow' }),
      expect.objectContaining({ name: 'search', enabled: true, core: true, reason: null }),
    ]);
    expect(Date.parse(view.features[0]?.since ?? '')).toBeGreaterThanOrEqual(crossed - 1_000);
    // The mock sees it on the requests after the switch.
    await expect.poll(() => lastFeatures('rag'), { timeout: 3_000, interval: 100 }).toBe(OFF);
    // A client cannot tell the upstream otherwise: its own header is replaced.
    await traffic.stop();
    const offSeen = async () => ((await mocks.stats('rag')).features as Record<string, number>)[OFF] ?? 0;
    const offBefore = await offSeen();
    traffic = load('/rag/search', 8, { 'x-jarvis-features': ON });
    // Until the new load's requests (each carrying the client's own header) have reached the mock.
    await expect.poll(offSeen, { timeout: 5_000, interval: 50 }).toBeGreaterThanOrEqual(offBefore + 16);
    expect(await lastFeatures('rag')).toBe(OFF);
    // A config reload that leaves the policy unchanged keeps the state.
    const applied = await gw.metric('jarvis_gateway_config_updates_total', { source: 'file', result: 'applied' });
    writeFileSync(join(dir, 'config.yaml'), config(mocks.port('rag'), mocks.port('noisy'), [route('extra', '/extra', 'rag')]));
    await expect
      .poll(() => gw.metric('jarvis_gateway_config_updates_total', { source: 'file', result: 'applied' }))
      .toBeGreaterThan(applied ?? 0);
    const kept = await features('rag');
    expect(kept.triggers[0]).toMatchObject({ active: true, activations: 1, since: view.triggers[0]?.since });
    expect(kept.value).toBe(OFF);
    // The load falls: features come back only once p95 stayed under 120 ms for holdFor.
    const calm = clock.now();
    await mocks.configure('rag', { latencyMs: 5 });
    let back: number | undefined;
    while (since(calm) < 8_000) {
      const value = await lastFeatures('rag');
      if (value === ON) {
        back = since(calm);
        break;
      }
      expect(value).toBe(OFF);
      await sleep(50);
    }
    const statuses = await traffic.stop();
    expect(back, 'features back on within 8 s').toBeDefined();
    expect(back).toBeGreaterThanOrEqual(HOLD_MS);
    const after = await features('rag');
    expect(after.value).toBe(ON);
    expect(after.triggers[0]).toMatchObject({ active: false, activations: 1, deactivations: 1 });
    expect(Object.keys(statuses)).toEqual(['200']);
    expect(
      await gw.metric('jarvis_gateway_degradation_trigger_transitions_total', { trigger: 'slow', to: 'active' }),
    ).toBeGreaterThanOrEqual(1);
    expect(await gw.metric('jarvis_gateway_feature_enabled', { feature: 'rerank' })).toBe(2); // rag and noisy, both on
    // A route without toggles passes no feature header, and drops a client's.
    await mocks.configure('rag', { latencyMs: 0 });
    const before = ((await mocks.stats('rag')).features as Record<string, number>)['(none)'] ?? 0;
    await (await fetch(`${gw.url}/plain/x`, { headers: { 'x-jarvis-features': OFF } })).arrayBuffer();
    expect(((await mocks.stats('rag')).features as Record<string, number>)['(none)']).toBe(before + 1);
  }, 60_000);

  it('over a noisy load the number of transitions stays within what the hold time allows', async () => {
    const startView = await features('noisy');
    const startTransitions = (startView.triggers[0]?.activations ?? 0) + (startView.triggers[0]?.deactivations ?? 0);
    const traffic = load('/noisy/q', 4);
    // Slow bursts (450 ms answers) of 0.8 to 1.4 s and fast ones (5 ms) of 0.2 to 1.4 s, in turn, for 12 s:
    // the p95 over the 1 s window jumps above the enter threshold and below the exit threshold.
    let seed = 12345;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const started = clock.now();
    let slow = false;
    let flips = 0;
    while (since(started) < 12_000) {
      slow = !slow;
      flips++;
      await mocks.configure('noisy', { latencyMs: slow ? 450 : 5 });
      await sleep(slow ? 800 + Math.floor(random() * 600) : 200 + Math.floor(random() * 1_200));
    }
    const T = since(started);
    await mocks.configure('noisy', { latencyMs: 5 });
    await traffic.stop();
    const end = await features('noisy');
    const transitions = (end.triggers[0]?.activations ?? 0) + (end.triggers[0]?.deactivations ?? 0) - startTransitions;
    // The trigger reacted to the load...
    expect(end.triggers[0]?.activations).toBeGreaterThanOrEqual(1);
    // ...far less often than the load changed, and within 2·⌈T / holdFor⌉ + 1.
    expect(transitions).toBeLessThan(flips);
    expect(transitions).toBeLessThanOrEqual(2 * Math.ceil(T / HOLD_MS) + 1);
    const metric = async (to: string) =>
      (await gw.metric('jarvis_gateway_degradation_trigger_transitions_total', { route: end.route, trigger: 'slow', to })) ?? 0;
    expect((await metric('active')) + (await metric('inactive'))).toBe(transitions + startTransitions);
  }, 60_000);
});
