/**
 * LLM tokens charged from the answer (issue 14, Tokens): a real gateway process, a real Redis and
 * the LLM mock (which reports `usage`, streaming with `stream_options.include_usage`). Each
 * request reserves its estimate at admission; the gateway reads the answer's usage and charges
 * or refunds the difference in Redis. The counter is read from Redis itself.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually } from '../src/cluster.js';
import { startGateway, type GatewayProcess } from '../src/gateway.js';
import { startMockProcess, type MockProcess } from '../src/mocks.js';

const NS = `tokens-${randomBytes(4).toString('hex')}`;
const BUDGET = 10_000;
const ROUTE = `${NS}/chat/rule-0`;
let mock: MockProcess;
let gw: GatewayProcess | undefined;
let dir: string;
let redis: Redis;

function config(mockPort: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
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
---
apiVersion: v1
kind: Service
metadata: { name: llm, namespace: ${NS} }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: llm-1, namespace: ${NS}, labels: { kubernetes.io/service-name: llm } }
addressType: FQDN
ports: [{ name: http, port: ${mockPort} }]
endpoints: [{ addresses: [llm.localhost] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: ${NS} }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: Exact, value: /v1/chat/completions } }], backendRefs: [{ name: llm, port: 80 }] }]
---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: tokens, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat }]
  store: Redis
  failureMode: { mode: Closed, timeout: 1s }
  limits:
    - name: budget
      key: [{ type: Header, name: x-team }]
      algorithm: FixedWindow
      rate: { requests: ${BUDGET}, per: 744h }
      cost: { llmTokens: Total }
`;
}

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'), { lazyConnect: true });
  await redis.connect();
  mock = await startMockProcess({ mocks: [{ name: 'llm', kind: 'llm', streamChunkDelayMs: 5 }] });
  dir = mkdtempSync(join(tmpdir(), 'jarvis-tokens-e2e-'));
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'config.yaml'), config(mock.port('llm')));
  gw = await startGateway({ name: 'tokens', args: ['--config', configDir, '--redis', inject('redisUrl')] });
});

afterAll(async () => {
  await gw?.stop();
  await mock?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  const keys = await redis.keys(`jarvis:rl:*${NS}/*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** The team's counter in Redis: units charged in the current window (FixedWindow state `window count`). */
async function charged(team: string): Promise<number> {
  const keys = await redis.keys(`jarvis:rl:*:${NS}/tokens/budget:5:H:${team}`);
  if (keys.length !== 1) return keys.length === 0 ? 0 : NaN;
  const v = await redis.get(keys[0] ?? '');
  return Number(v?.split(' ')[1] ?? NaN);
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

function body(o: { prompt: string; maxTokens?: number; stream?: boolean; includeUsage?: boolean }): string {
  return JSON.stringify({
    model: 'gpt-4',
    messages: [{ role: 'user', content: o.prompt }],
    ...(o.maxTokens !== undefined ? { max_tokens: o.maxTokens } : {}),
    ...(o.stream ? { stream: true } : {}),
    ...(o.includeUsage ? { stream_options: { include_usage: true } } : {}),
  });
}

async function post(team: string, b: string): Promise<Response> {
  return fetch(`${gw?.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-team': team },
    body: b,
  });
}

/** The usage the client saw in an SSE stream (the chunk before [DONE]). */
function streamUsage(text: string): Usage | undefined {
  let usage: Usage | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const chunk = JSON.parse(line.slice(6)) as { usage?: Usage | null };
    if (chunk.usage) usage = chunk.usage;
  }
  return usage;
}

describe('LLM tokens charged from the response', () => {
  it('50 concurrent streaming clients against a 10,000-token budget: never more than one reservation over, charged total = sum of usage', async () => {
    const team = 'stream';
    const maxTokens = 200;
    const prompt = 'p'.repeat(1600); // 400 tokens estimated: each request reserves 600
    const reservation = 400 + maxTokens;
    let admitted = 0;
    let refused = 0;
    let usageSum = 0;
    let maxInFlight = 0;
    let inFlight = 0;
    // 50 clients, each streaming request after request until the budget refuses it.
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        for (let i = 0; i < 20; i++) {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          const res = await post(team, body({ prompt, maxTokens, stream: true, includeUsage: true }));
          const text = await res.text();
          inFlight--;
          if (res.status === 429) {
            refused++;
            return;
          }
          expect(res.status).toBe(200);
          const usage = streamUsage(text);
          if (!usage) throw new Error('a stream without usage');
          admitted++;
          usageSum += usage.total_tokens;
        }
      }),
    );
    expect(maxInFlight).toBe(50);
    expect(refused).toBe(50);
    // Reservations alone admit 16 (16 × 600 ≤ 10,000); refunds of what the answers did not use
    // made room for more.
    expect(admitted).toBeGreaterThan(Math.floor(BUDGET / reservation));
    // The counter holds exactly what the mock reported, once every settlement has landed.
    await eventually('settled', async () => ((await charged(team)) === usageSum ? true : undefined), 5_000, 20);
    const total = await charged(team);
    expect(total).toBe(usageSum);
    expect(total - BUDGET).toBeLessThanOrEqual(reservation);
    expect(await gw?.metric('jarvis_gateway_llm_tokens_reconciled_total', { route: ROUTE, direction: 'refunded' })).toBeGreaterThan(0);
  });

  it('a request without max_tokens reserves the default output, and is charged what the mock reports', async () => {
    const team = 'nomax';
    const prompt = 'q'.repeat(400); // 100 tokens estimated
    const res = await post(team, body({ prompt }));
    expect(res.status).toBe(200);
    // Admitted on a reservation of 100 + 1024 (the default output).
    expect(res.headers.get('ratelimit')).toContain(`"budget";r=${BUDGET - 100 - 1024}`);
    const answer = (await res.json()) as { usage: Usage };
    expect(answer.usage.total_tokens).toBeGreaterThan(0);
    await eventually('settled', async () => ((await charged(team)) === answer.usage.total_tokens ? true : undefined), 5_000, 20);
    // A streamed answer too.
    const s = await post(team, body({ prompt, stream: true, includeUsage: true }));
    const usage = streamUsage(await s.text());
    if (!usage) throw new Error('no usage in the stream');
    await eventually(
      'settled',
      async () => ((await charged(team)) === answer.usage.total_tokens + usage.total_tokens ? true : undefined),
      5_000,
      20,
    );
  });

  it('an answer without usage keeps the reservation, and is counted', async () => {
    const team = 'nousage';
    const before = (await gw?.metric('jarvis_gateway_llm_usage_missing_total', { route: ROUTE })) ?? 0;
    const res = await post(team, body({ prompt: 'r'.repeat(400), maxTokens: 50, stream: true })); // no include_usage
    expect(res.status).toBe(200);
    expect(streamUsage(await res.text())).toBeUndefined();
    await eventually(
      'counted',
      async () => (((await gw?.metric('jarvis_gateway_llm_usage_missing_total', { route: ROUTE })) ?? 0) > before ? true : undefined),
      5_000,
      20,
    );
    expect(await charged(team)).toBe(100 + 50);
  });

  it('a request that gets no upstream answer is refunded its output reservation', async () => {
    const team = 'down';
    await mock.stop(); // the last test: the upstream refuses connections from here on
    const res = await post(team, body({ prompt: 's'.repeat(400), maxTokens: 300 }));
    expect(res.status).toBeGreaterThanOrEqual(500);
    await res.arrayBuffer();
    await eventually('refunded', async () => ((await charged(team)) === 100 ? true : undefined), 5_000, 20);
  });
});
