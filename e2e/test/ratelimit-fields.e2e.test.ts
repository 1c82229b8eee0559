/**
 * The RateLimit fields on a route whose limits are checked in two steps: a real gateway process
 * (memory store) and the LLM mock. The team's level needs nothing from the body and is checked
 * before the body is read; the level per team and model is checked after. Whatever answers — the upstream,
 * or a 429 from either check — the fields name every enforced level that was checked, the early
 * check's first.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standaloneConfig, startGateway, type GatewayProcess } from '../src/gateway.js';
import { startMockProcess, type MockProcess } from '../src/mocks.js';

let mock: MockProcess | undefined;
let gw: GatewayProcess | undefined;
let dir: string | undefined;

/** The chat route, and its limits: per team (before the body), per team and model (after). */
const CHAT = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: e2e }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: Exact, value: /v1/chat/completions } }], backendRefs: [{ name: upstream, port: 80 }] }]
---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: chat-limits, namespace: e2e }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat }]
  store: Memory
  limits:
    - name: team
      key: [{ type: Header, name: x-team }]
      algorithm: FixedWindow
      rate: { requests: 5, per: 1h }
    - name: per-model
      key: [{ type: Header, name: x-team }, { type: Model }]
      algorithm: FixedWindow
      rate: { requests: 2, per: 1h }`;

beforeAll(async () => {
  mock = await startMockProcess({ mocks: [{ name: 'llm', kind: 'llm' }] });
  dir = mkdtempSync(join(tmpdir(), 'jarvis-rlfields-e2e-'));
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'config.yaml'), standaloneConfig(mock.port('llm'), CHAT));
  gw = await startGateway({ name: 'rlfields', args: ['--config', configDir] });
});

afterAll(async () => {
  await gw?.stop();
  await mock?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function chat(team: string, model: string): Promise<{ status: number; policy: string | null; state: string | null; body: unknown }> {
  const res = await fetch(`${gw?.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-team': team },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }),
  });
  const text = await res.text();
  return {
    status: res.status,
    policy: res.headers.get('ratelimit-policy'),
    state: res.headers.get('ratelimit'),
    body: res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as unknown) : text,
  };
}

/** The items of a RateLimit field by level name: `"team";r=4;t=3600` → { team: { r: 4, t: 3600 } }. */
function items(field: string | null): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const item of (field ?? '').split(', ')) {
    const m = /^"([^"]+)"((?:;[a-z]+=\d+)*)$/.exec(item);
    if (!m) throw new Error(`not a RateLimit item: ${item}`);
    const params: Record<string, number> = {};
    for (const p of (m[2] ?? '').split(';').slice(1)) {
      const [k, v] = p.split('=');
      params[k ?? ''] = Number(v);
    }
    out[m[1] ?? ''] = params;
  }
  return out;
}

describe('RateLimit fields of a route checked before and after its body is read', () => {
  it('name the early and the late levels on admitted requests and on a refusal by either check', async () => {
    // Admitted: both checks' levels, the early one first.
    const first = await chat('a', 'gpt-4');
    expect(first.status).toBe(200);
    expect(first.policy).toBe('"team";q=5;w=3600, "per-model";q=2;w=3600');
    expect(Object.keys(items(first.state))).toEqual(['team', 'per-model']);
    expect(items(first.state)['team']?.['r']).toBe(4);
    expect(items(first.state)['per-model']?.['r']).toBe(1);

    const second = await chat('a', 'gpt-4');
    expect(second.status).toBe(200);
    expect(items(second.state)['team']?.['r']).toBe(3);
    expect(items(second.state)['per-model']?.['r']).toBe(0);

    // Refused by the late check (the model's level): the early check's level is still named.
    const third = await chat('a', 'gpt-4');
    expect(third.status).toBe(429);
    expect(third.policy).toBe('"team";q=5;w=3600, "per-model";q=2;w=3600');
    const refused = items(third.state);
    expect(Object.keys(refused)).toEqual(['team', 'per-model']);
    expect(refused['per-model']?.['r']).toBe(0);
    expect(refused['per-model']?.['t']).toBeGreaterThan(0);
    expect(third.body).toMatchObject({ status: 429, 'violated-policies': ['per-model'] });

    // Another model: the late level has room, the early one is used by every request so far.
    const other = await chat('a', 'gpt-4o');
    expect(other.status).toBe(200);
    expect(items(other.state)['team']?.['r']).toBe(1);
    expect(items(other.state)['per-model']?.['r']).toBe(1);
    await chat('a', 'gpt-4o');

    // Refused by the early check: the body is never read, so only the early level is named.
    const early = await chat('a', 'gpt-4o');
    expect(early.status).toBe(429);
    expect(early.policy).toBe('"team";q=5;w=3600');
    expect(Object.keys(items(early.state))).toEqual(['team']);
    expect(early.body).toMatchObject({ status: 429, 'violated-policies': ['team'] });
  });
});
