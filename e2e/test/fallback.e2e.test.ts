/**
 * DegradationPolicy fallback chains with real processes: a standalone gateway (`--config DIR`) in
 * front of the mock LLM tiers (gpt-4, gpt-3.5-turbo, claude-haiku, a local model) and the mock
 * search services (vector, keyword), each mock's behaviour changed at run time through
 * `POST /__mock/config`:
 *
 * - gpt-4 answers 503 / times out / has its breaker open → gpt-3.5-turbo answers (asked for its
 *   own model), the headers say so; with its breaker open gpt-4 is not even tried;
 * - every remote LLM tier down → the local model answers; no connection at all → the next step;
 * - vector search down → keyword results; both down → the static empty result with 200;
 * - a stream falls back before its first byte, and once its first byte is out it is never taken
 *   back (it outlives the step's timeout);
 * - the route's request timeout bounds the whole chain (504 on time, later steps never tried).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clock, sleep } from '../src/clock.js';
import { freePort } from '../src/envtest/ports.js';
import { startGateway, type GatewayProcess } from '../src/gateway.js';
import { startMockProcess, type MockProcess } from '../src/mocks.js';
import { scratchDir, type ScratchDir } from '../src/util/processes.js';

const NS = 'fallback';
const LLM = ['gpt-4', 'gpt-35', 'claude-haiku', 'local-model'] as const;
const SEARCH = ['vector', 'keyword'] as const;
const STEP_TIMEOUT_MS = 1_000;
const DEADLINE_MS = 1_500;

let mocks: MockProcess;
let gateway: GatewayProcess;
let dir: ScratchDir;

function service(name: string, port: number): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${NS} }
spec: { ports: [{ name: http, port: 80, targetPort: ${port} }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: ${NS}, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: ${port}, protocol: TCP }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
---
`;
}

function route(name: string, path: string, backend: string, extra = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${NS} }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: ${path} }${extra ? `, headers: [{ name: x-test, value: ${extra} }]` : ''} }]
      backendRefs: [{ name: ${backend}, port: 80 }]${extra === 'deadline' ? `\n      timeouts: { request: ${DEADLINE_MS}ms }` : ''}
---
`;
}

function manifests(ports: Record<string, number>, deadPort: number): string {
  const llmChain = (first: string) => `
      - { name: ${first}, backendRef: { name: ${first}, port: 80 }, model: gpt-4, timeout: ${STEP_TIMEOUT_MS}ms }
      - { name: gpt-35, backendRef: { name: gpt-35, port: 80 }, model: gpt-3.5-turbo, timeout: ${STEP_TIMEOUT_MS}ms }
      - { name: claude-haiku, backendRef: { name: claude-haiku, port: 80 }, model: claude-haiku, timeout: ${STEP_TIMEOUT_MS}ms }
      - { name: local-model, backendRef: { name: local-model, port: 80 }, model: local-model, timeout: 10s }`;
  const policy = (name: string, target: string, chain: string) => `apiVersion: stability.jarvis.io/v1alpha1
kind: DegradationPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${target} }]
  fallback:
    chain:${chain}
---
`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${NS} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: ${NS} }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: Same } } }]
---
${[...LLM, ...SEARCH].map((m) => service(m, ports[m] ?? 0)).join('')}${service('dead', deadPort)}${route('completions', '/v1/chat/completions', 'gpt-4')}${route('completions-dead', '/v1/chat/completions', 'dead', 'dead')}${route('completions-deadline', '/v1/chat/completions', 'gpt-4', 'deadline')}${route('completions-triggered', '/v1/chat/completions', 'claude-haiku', 'triggered')}${route('retrieve', '/api/v1/retrieve', 'vector')}${policy('llm', 'completions', llmChain('gpt-4'))}${policy('llm-dead', 'completions-dead', llmChain('dead'))}${policy(
    'llm-deadline',
    'completions-deadline',
    `
      - { name: gpt-35, backendRef: { name: gpt-35, port: 80 }, timeout: ${STEP_TIMEOUT_MS}ms }
      - { name: claude-haiku, backendRef: { name: claude-haiku, port: 80 }, timeout: ${STEP_TIMEOUT_MS}ms }
      - { name: local-model, backendRef: { name: local-model, port: 80 } }`,
  )}${policy(
    'rag',
    'retrieve',
    `
      - { name: vector, backendRef: { name: vector, port: 80 }, timeout: ${STEP_TIMEOUT_MS}ms }
      - { name: keyword, backendRef: { name: keyword, port: 80 }, timeout: ${STEP_TIMEOUT_MS}ms }
      - name: empty
        static: { status: 200, contentType: application/json, body: '{"results":[],"degraded":true}', headers: { x-degraded: "true" } }`,
  )}apiVersion: stability.jarvis.io/v1alpha1
kind: DegradationPolicy
metadata: { name: llm-triggered, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: completions-triggered }]
  triggers:
    - { name: slow, type: LatencyP95, latency: { activate: 200ms, deactivate: 50ms }, window: 5s, minSamples: 3, holdFor: 60s }
  fallback:
    whenTriggered: { triggers: [slow], startAt: local-model }
    chain:
      - { name: claude-haiku, backendRef: { name: claude-haiku, port: 80 }, model: claude-haiku, timeout: ${STEP_TIMEOUT_MS}ms }
      - { name: local-model, backendRef: { name: local-model, port: 80 }, model: local-model, timeout: 10s }
---
apiVersion: stability.jarvis.io/v1alpha1
kind: CircuitBreakerPolicy
metadata: { name: gpt-4, namespace: ${NS} }
spec:
  targetRefs: [{ group: "", kind: Service, name: gpt-4 }]
  breaker:
    failureStatusCodes: [500, 502, 503, 504]
    consecutiveFailures: 3
    failureRatePercent: 100
    window: { type: Count, size: 100 }
    minimumCalls: 100
    openDuration: { base: 60s, max: 60s }
`;
}

const DOWN = { errorRate: 1, errorStatuses: [503] };
const SLOW = { latencyMs: 5_000 };

async function reset(): Promise<void> {
  for (const m of [...LLM, ...SEARCH])
    await mocks.configure(m, { errorRate: 0, latencyMs: 0, jitterMs: 0, streamChunkDelayMs: 0, errorStatuses: [500, 503, 429] });
}

async function requests(name: string): Promise<number> {
  return Number((await mocks.stats(name)).requests ?? 0);
}

function chat(body: Record<string, unknown> = {}, test?: string): Promise<Response> {
  return fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(test ? { 'x-test': test } : {}) },
    body: JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'What is the capital of France?' }], ...body }),
    signal: AbortSignal.timeout(20_000),
  });
}

function retrieve(): Promise<Response> {
  return fetch(`${gateway.url}/api/v1/retrieve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'fallback chains', top_k: 3 }),
    signal: AbortSignal.timeout(20_000),
  });
}

/** The model the mock answered as (it echoes the model of the request it got). */
async function answeredModel(res: Response): Promise<string> {
  return ((await res.json()) as { model: string }).model;
}

beforeAll(async () => {
  mocks = await startMockProcess({
    mocks: [...LLM.map((name) => ({ name, kind: 'llm' })), ...SEARCH.map((name) => ({ name, kind: 'search', flavor: name }))],
  });
  const ports = Object.fromEntries([...LLM, ...SEARCH].map((m) => [m, mocks.port(m)]));
  dir = scratchDir('jarvis-fallback-', 'fallback config');
  writeFileSync(join(dir.path, 'fallback.yaml'), manifests(ports, await freePort()));
  gateway = await startGateway({ name: 'fallback', args: ['--config', dir.path] });
});

afterAll(async () => {
  await gateway?.stop();
  await mocks?.stop();
  dir?.release();
});

beforeEach(reset);

describe('LLM fallback chain', () => {
  it('gpt-4 answering: its answer, the header naming it', async () => {
    const res = await chat();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('gpt-4');
    expect(res.headers.get('x-jarvis-attempts')).toBe('1');
    expect(res.headers.get('x-mock-name')).toBe('gpt-4');
    expect(await answeredModel(res)).toBe('gpt-4');
  });

  it('gpt-4 answers 503 → gpt-3.5-turbo answers, asked for its own model', async () => {
    await mocks.configure('gpt-4', DOWN);
    const before = await requests('gpt-4');
    const res = await chat();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('gpt-35');
    expect(res.headers.get('x-jarvis-attempts')).toBe('2');
    expect(res.headers.get('x-mock-name')).toBe('gpt-35');
    expect(await answeredModel(res)).toBe('gpt-3.5-turbo');
    expect(await requests('gpt-4')).toBe(before + 1);
    expect(await gateway.metric('jarvis_gateway_fallback_steps_total', { step: 'gpt-4', result: 'status' })).toBeGreaterThan(0);
    expect(await gateway.metric('jarvis_gateway_fallback_steps_total', { step: 'gpt-35', result: 'answered' })).toBeGreaterThan(0);
  });

  it('gpt-4 times out → gpt-3.5-turbo answers once the step timeout ran out', async () => {
    await mocks.configure('gpt-4', SLOW);
    const start = clock.now();
    const res = await chat();
    const took = clock.now() - start;
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('gpt-35');
    expect(await answeredModel(res)).toBe('gpt-3.5-turbo');
    expect(took).toBeGreaterThanOrEqual(STEP_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(STEP_TIMEOUT_MS + 1_500);
    expect(await gateway.metric('jarvis_gateway_fallback_steps_total', { step: 'gpt-4', result: 'timeout' })).toBeGreaterThan(0);
  });

  it('a stream whose first byte is out is never taken back: it outlives the step timeout, no other tier asked', async () => {
    await mocks.configure('gpt-4', { streamChunkDelayMs: 100 });
    const others = await Promise.all(['gpt-35', 'claude-haiku', 'local-model'].map(requests));
    const start = clock.now();
    const content = Array.from({ length: 20 }, (_, i) => `word${i}`).join(' ');
    const res = await chat({ stream: true, messages: [{ role: 'user', content }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(res.headers.get('x-jarvis-fallback')).toBe('gpt-4');
    const text = await res.text();
    expect(clock.now() - start).toBeGreaterThan(STEP_TIMEOUT_MS);
    expect(text).toContain('"model":"gpt-4"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await Promise.all(['gpt-35', 'claude-haiku', 'local-model'].map(requests))).toEqual(others);
  });

  it('a stream falls back before its first byte: gpt-4 503 → the stream comes from gpt-3.5-turbo', async () => {
    await mocks.configure('gpt-4', DOWN);
    const res = await chat({ stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(res.headers.get('x-jarvis-fallback')).toBe('gpt-35');
    const text = await res.text();
    expect(text).toContain('"model":"gpt-3.5-turbo"');
    expect(text).not.toContain('injected failure');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('every remote tier down (503, timeout, 500) → the local model answers', async () => {
    await mocks.configure('gpt-4', DOWN);
    await mocks.configure('gpt-35', SLOW);
    await mocks.configure('claude-haiku', { errorRate: 1, errorStatuses: [500] });
    const res = await chat();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('local-model');
    expect(res.headers.get('x-jarvis-attempts')).toBe('4');
    expect(await answeredModel(res)).toBe('local-model');
  });

  it('no connection to the first step → the next one answers', async () => {
    const res = await chat({}, 'dead');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('gpt-35');
    expect(await answeredModel(res)).toBe('gpt-3.5-turbo');
    expect(await gateway.metric('jarvis_gateway_fallback_steps_total', { step: 'dead', result: 'connect' })).toBeGreaterThan(0);
  });

  it("gpt-4's breaker open → skipped without trying: gpt-3.5-turbo answers, gpt-4 sees nothing", async () => {
    await mocks.configure('gpt-4', DOWN);
    // Failures in a row open gpt-4's breaker (consecutiveFailures: 3).
    let open = false;
    for (let i = 0; i < 10 && !open; i++) {
      expect((await chat()).headers.get('x-jarvis-fallback')).toBe('gpt-35');
      open = (await gateway.metric('jarvis_gateway_breaker_state', { backend: `${NS}/gpt-4:80`, state: 'open' })) === 1;
    }
    expect(open).toBe(true);
    await mocks.configure('gpt-4', { errorRate: 0 }); // healthy again, but the breaker stays open for 60 s
    const before = await requests('gpt-4');
    for (let i = 0; i < 3; i++) {
      const res = await chat();
      expect(res.status).toBe(200);
      expect(res.headers.get('x-jarvis-fallback')).toBe('gpt-35');
      expect(res.headers.get('x-jarvis-attempts')).toBe('2');
      expect(await answeredModel(res)).toBe('gpt-3.5-turbo');
    }
    expect(await requests('gpt-4')).toBe(before);
    expect(await gateway.metric('jarvis_gateway_fallback_steps_total', { step: 'gpt-4', result: 'breaker_open' })).toBeGreaterThanOrEqual(
      3,
    );
  });

  it("the route's request timeout bounds the whole chain: 504 on time, the later steps never tried", async () => {
    await mocks.configure('gpt-35', SLOW);
    await mocks.configure('claude-haiku', SLOW);
    const local = await requests('local-model');
    const start = clock.now();
    const res = await chat({}, 'deadline');
    const took = clock.now() - start;
    expect(res.status).toBe(504);
    expect(res.headers.get('x-jarvis-fallback')).toBe('claude-haiku');
    expect(res.headers.get('x-jarvis-attempts')).toBe('2');
    expect(took).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(took).toBeLessThan(DEADLINE_MS + 1_000);
    await sleep(100);
    expect(await requests('local-model')).toBe(local);
  });
});

describe('fallback.whenTriggered', () => {
  it("while the route's latency trigger holds, requests start at the named step: the first step is not asked", async () => {
    // Slow answers from the first step push the route's p95 over 200 ms (each still answers, in time).
    await mocks.configure('claude-haiku', { latencyMs: 400 });
    const slow = await Promise.all([1, 2, 3, 4].map(() => chat({}, 'triggered')));
    for (const res of slow) {
      expect(res.headers.get('x-jarvis-fallback')).toBe('claude-haiku');
      await res.arrayBuffer();
    }
    const before = await requests('claude-haiku');
    // The triggers are evaluated every 250 ms: the next requests start at local-model.
    const deadline = clock.now() + 5_000;
    let res = await chat({}, 'triggered');
    while (res.headers.get('x-jarvis-fallback') !== 'local-model' && clock.now() < deadline) {
      await res.arrayBuffer();
      await sleep(100);
      res = await chat({}, 'triggered');
    }
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('local-model');
    expect(await answeredModel(res)).toBe('local-model');
    const asked = (await requests('claude-haiku')) - before;
    const again = await chat({}, 'triggered');
    expect(again.headers.get('x-jarvis-fallback')).toBe('local-model');
    await again.arrayBuffer();
    // Only requests sent before the trigger held can have reached claude-haiku; none after.
    expect((await requests('claude-haiku')) - before).toBe(asked);
  });
});

describe('RAG fallback chain', () => {
  it('vector search answering: vector results', async () => {
    const res = await retrieve();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('vector');
    expect(((await res.json()) as { flavor: string }).flavor).toBe('vector');
  });

  it('vector search down → keyword results', async () => {
    await mocks.configure('vector', DOWN);
    const res = await retrieve();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('keyword');
    const body = (await res.json()) as { flavor: string; results: unknown[] };
    expect(body.flavor).toBe('keyword');
    expect(body.results.length).toBeGreaterThan(0);
  });

  it('both down → the static empty result with 200', async () => {
    await mocks.configure('vector', DOWN);
    await mocks.configure('keyword', SLOW);
    const res = await retrieve();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jarvis-fallback')).toBe('empty');
    expect(res.headers.get('x-jarvis-attempts')).toBe('3');
    expect(res.headers.get('x-degraded')).toBe('true');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ results: [], degraded: true });
  });
});
