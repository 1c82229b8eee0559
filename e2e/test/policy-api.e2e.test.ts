/**
 * The policy API a cluster admin needs, on real processes:
 * - kubectl → apiserver → jarvis-operator → xDS → two jarvis-gateways on one Redis: a Gateway's
 *   override cannot be loosened by a route's policy — a flood from one client is limited at the
 *   override's rate across both replicas (the route asks for 1000 an hour, and store Memory, which
 *   would count each replica alone); the status says which policies the override replaced;
 * - a standalone gateway (the same translator, from files): an anonymous flood lands in the one
 *   anonymous counter of a per-user level, whatever the client's address; a level with
 *   onMissingKey Reject refuses an unattributable request; a per-tenant-per-model token quota
 *   limits the model whose quota is used up and not another; plans come from an API key's claims.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { platformYaml } from '../src/platform.js';
import { condition, eventually, policyStates, applyGatewayClass } from '../src/cluster.js';
import { startGateway, startUpstream, standaloneConfig, type GatewayProcess } from '../src/gateway.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { startOperator, type OperatorProcess } from '../src/operator.js';

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One request through `gw`, from the given local address (all of 127/8 is local on Linux). */
function send(
  gw: GatewayProcess,
  path: string,
  options: { headers?: Record<string, string>; body?: string; from?: string; method?: string } = {},
): Promise<Answer> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
        headers: {
          ...(options.body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) } : {}),
          ...options.headers,
        },
        ...(options.from ? { localAddress: options.from } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const statuses = (answers: readonly Answer[]) => answers.map((a) => a.status);
const count = (answers: readonly Answer[], status: number) => answers.filter((a) => a.status === status).length;

describe('a Gateway override, through the operator, on two gateways sharing Redis', () => {
  const NS = `papi-${randomUUID().slice(0, 8)}`;
  let kubectl: Kubectl;
  let operator: OperatorProcess | undefined;
  const gateways: GatewayProcess[] = [];
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const stateDirs: string[] = [];

  beforeAll(async () => {
    kubectl = kubectlFor(inject('kubeconfig'));
    upstream = await startUpstream();
    await kubectl.ok(['create', 'namespace', NS]);
    await applyGatewayClass(kubectl);
    await kubectl.ok(['apply', '-f', '-'], {
      input: `${platformYaml({ namespace: NS, gateway: 'edge', service: 'upstream', route: 'api', pathPrefix: '/api', endpoint: { host: 'upstream.localhost', port: upstream.port } })}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: other, namespace: ${NS} }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /other } }], backendRefs: [{ name: upstream, port: 80 }] }]
---
# The platform's override: 5 an hour per client address, counted in Redis, failing closed.
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: platform, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  overrides:
    strategy: Merge
    limits: [{ name: per-ip, scope: ClientIP, algorithm: FixedWindow, rate: { requests: 5, per: 1h } }]
    store: Redis
    failureMode: { mode: Closed, timeout: 500ms }
---
# The route team's policy: tries to loosen per-ip, count in memory, and fail open; adds a level of its own.
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: team, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  limits:
    - { name: per-ip, scope: ClientIP, algorithm: FixedWindow, rate: { requests: 1000, per: 1h } }
    - { name: route-total, scope: Global, algorithm: FixedWindow, rate: { requests: 1000, per: 1h } }
  store: Memory
  failureMode: { mode: Open }
---
# Only redefines what the override sets: replaced everywhere it applies.
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: loosen-only, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: other }]
  limits: [{ name: per-ip, scope: ClientIP, rate: { requests: 1000, per: 1h } }]
`,
    });
    await kubectl(['delete', 'lease', 'jarvis-operator', '-n', 'default', '--ignore-not-found']);
    operator = await startOperator({ kubeconfig: inject('kubeconfig'), id: 'op-papi' });
    for (const name of ['papi-a', 'papi-b']) {
      const stateDir = mkdtempSync(join(tmpdir(), 'jarvis-papi-state-'));
      stateDirs.push(stateDir);
      gateways.push(
        await startGateway({
          name,
          args: ['--xds', operator.xdsAddress, '--gateway', `${NS}/edge`, '--state-dir', stateDir, '--redis', inject('redisUrl')],
        }),
      );
    }
  });

  afterAll(async () => {
    for (const gw of gateways) await gw.stop();
    await operator?.stop();
    await upstream?.close();
    await kubectl(['delete', 'ratelimitpolicy,httproute,gateway,service,endpointslice', '--all', '-n', NS, '--ignore-not-found']);
    for (const d of stateDirs) rmSync(d, { recursive: true, force: true });
  });

  it('the route policy is Enforced, the one it replaces whole is Overridden naming the override', async () => {
    const states = await eventually(
      'both gateways acknowledged every policy',
      async () => {
        const s = await policyStates(kubectl, NS);
        const reason = (name: string) => {
          const p = s.find((x) => x.name === name);
          return p && condition(p, 'Enforced')?.observedGeneration === p.generation ? condition(p, 'Enforced')?.reason : undefined;
        };
        return reason('platform') === 'Enforced' && reason('team') === 'Enforced' && reason('loosen-only') === 'Overridden' ? s : undefined;
      },
      30_000,
    );
    const loosenOnly = states.find((p) => p.name === 'loosen-only')!;
    expect(condition(loosenOnly, 'Enforced')).toMatchObject({
      status: 'False',
      reason: 'Overridden',
      message: expect.stringContaining(`RateLimitPolicy ${NS}/platform (overrides, Merge)`),
    });
  });

  it('a flood from one client over both replicas is limited at the override’s 5, not the route’s 1000, nor 5 per replica', async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < 30; i++) answers.push(await send(gateways[i % 2]!, '/api/x', { from: '127.0.0.9' }));
    expect(count(answers, 200), statuses(answers).join(',')).toBe(5);
    expect(count(answers, 429)).toBe(25);
    const refused = JSON.parse(answers.at(-1)!.body) as { 'violated-policies': string[]; levels: { policy: string }[] };
    expect(refused['violated-policies']).toEqual(['per-ip']);
    expect(refused.levels[0]?.policy).toBe(`${NS}/platform`);
    // Another client has its own 5, and the route's own level counts too (its policy is in force).
    const other = await send(gateways[1]!, '/api/x', { from: '127.0.0.10' });
    expect(other.status).toBe(200);
    const fields = await new Promise<string>((resolve, reject) => {
      const url = new URL(gateways[0]!.url);
      http
        .get({ host: url.hostname, port: url.port, path: '/api/x', localAddress: '127.0.0.11', agent: false }, (res) => {
          res.resume();
          resolve(String(res.headers['ratelimit-policy'] ?? ''));
        })
        .on('error', reject);
    });
    expect(fields).toContain('"per-ip";q=5;w=3600');
    expect(fields).toContain('"route-total";q=1000;w=3600');
  });
});

describe('counters and conditions on a standalone gateway', () => {
  let gw: GatewayProcess;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const dirs: string[] = [];
  const GOLD_KEY = `gold-${randomUUID()}`;
  const PLAIN_KEY = `plain-${randomUUID()}`;
  const ODD_KEY = `odd-${randomUUID()}`;
  const sha = (k: string) => createHash('sha256').update(k).digest('hex');

  beforeAll(async () => {
    upstream = await startUpstream();
    const config = mkdtempSync(join(tmpdir(), 'jarvis-papi-config-'));
    const idDir = mkdtempSync(join(tmpdir(), 'jarvis-papi-id-'));
    dirs.push(config, idDir);
    const route = (name: string, path: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: e2e }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: ${path} } }], backendRefs: [{ name: upstream, port: 80 }] }]`;
    const policy = (name: string, target: string, limits: string) => `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: ${name}, namespace: e2e }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${target} }]
  store: Memory
  limits:
${limits}`;
    writeFileSync(
      join(config, 'platform.yaml'),
      standaloneConfig(
        upstream.port,
        [
          route('anon', '/anon'),
          route('strict', '/strict'),
          route('completions', '/v1/chat/completions'),
          route('plans', '/plans'),
          policy('anon', 'anon', '    - { name: per-user, scope: User, algorithm: FixedWindow, rate: { requests: 3, per: 1h } }'),
          policy(
            'strict',
            'strict',
            '    - { name: per-tenant, scope: Tenant, onMissingKey: Reject, algorithm: FixedWindow, rate: { requests: 100, per: 1h } }',
          ),
          policy(
            'tokens',
            'completions',
            `    - name: tenant-model-tokens
      key: [{ type: Tenant }, { type: Model }]
      algorithm: FixedWindow
      rate: { requests: 1000, per: 1h }
      cost: { llmTokens: Total }`,
          ),
          policy(
            'plans',
            'plans',
            `    - name: per-tenant
      scope: Tenant
      algorithm: FixedWindow
      rate: { requests: 2, per: 1h }
      plans: [{ name: gold, rate: { requests: 5, per: 1h } }]`,
          ),
        ].join('\n---\n'),
      ),
    );
    writeFileSync(
      join(idDir, 'keys.yaml'),
      `keys:
  - { sha256: ${sha(GOLD_KEY)}, tenant: acme, claims: { plan: gold } }
  - { sha256: ${sha(PLAIN_KEY)}, tenant: initech }
  - { sha256: ${sha(ODD_KEY)}, tenant: globex, claims: { plan: platinum } }
`,
    );
    const identity = join(idDir, 'identity.yaml');
    writeFileSync(
      identity,
      `trustedProxies: [127.0.0.1/32]
trustedHeaders: { tenant: x-tenant-id, user: x-user-id }
apiKeys: { file: keys.yaml, header: x-api-key }
`,
    );
    gw = await startGateway({ name: 'papi-standalone', args: ['--config', config, '--identity', identity] });
  });

  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('an anonymous flood from many addresses hits the one anonymous counter of the per-user level; a known user has its own', async () => {
    const answers: Answer[] = [];
    // Untrusted addresses: no identity at all, each its own client IP.
    for (let i = 0; i < 12; i++) answers.push(await send(gw, '/anon/x', { from: `127.0.1.${i + 1}` }));
    expect(statuses(answers)).toEqual([200, 200, 200, ...Array<number>(9).fill(429)]);
    const refused = JSON.parse(answers[3]!.body) as { 'violated-policies': string[] };
    expect(refused['violated-policies']).toEqual(['per-user']);
    // A user vouched for by the trusted proxy (127.0.0.1) counts apart from the anonymous ones.
    const alice: Answer[] = [];
    for (let i = 0; i < 4; i++) alice.push(await send(gw, '/anon/x', { headers: { 'x-user-id': `alice-${GOLD_KEY}` } }));
    expect(statuses(alice)).toEqual([200, 200, 200, 429]);
  });

  it('onMissingKey Reject: a request without a tenant gets 403 limit-key-missing; with one it passes', async () => {
    const anonymous = await send(gw, '/strict/x', { from: '127.0.2.1' });
    expect(anonymous.status).toBe(403);
    expect(JSON.parse(anonymous.body)).toMatchObject({
      type: 'https://stability.jarvis.io/problems/limit-key-missing',
      level: 'per-tenant',
      'missing-key-part': 'Tenant',
    });
    expect((await send(gw, '/strict/x', { headers: { 'x-tenant-id': 'acme' } })).status).toBe(200);
  });

  it('a per-tenant-per-model token quota limits the model whose quota is used up, not another model or tenant', async () => {
    // About 400 prompt tokens (4 characters each) and 100 output tokens: 500 of the 1000 an hour.
    const body = (model: string) => JSON.stringify({ model, max_tokens: 100, messages: [{ role: 'user', content: 'x'.repeat(1600) }] });
    const as = (tenant: string, model: string) =>
      send(gw, '/v1/chat/completions', { headers: { 'x-tenant-id': tenant }, body: body(model) });
    const gpt4: Answer[] = [];
    for (let i = 0; i < 3; i++) gpt4.push(await as('acme', 'gpt-4'));
    expect(statuses(gpt4)).toEqual([200, 200, 429]);
    expect(JSON.parse(gpt4[2]!.body)['violated-policies']).toEqual(['tenant-model-tokens']);
    expect((await as('acme', 'gpt-3.5-turbo')).status).toBe(200);
    expect((await as('acme', 'gpt-3.5-turbo')).status).toBe(200);
    expect((await as('globex', 'gpt-4')).status).toBe(200);
    expect((await as('acme', 'gpt-4')).status).toBe(429);
  });

  it('plans from an API key’s claims: gold gets its plan’s rate, no plan or an unknown one the default', async () => {
    const run = async (key: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await send(gw, '/plans/x', { headers: { 'x-api-key': key }, from: '127.0.3.1' })).status);
      return out;
    };
    expect(await run(GOLD_KEY, 6)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(await run(PLAIN_KEY, 3)).toEqual([200, 200, 429]);
    expect(await run(ODD_KEY, 3)).toEqual([200, 200, 429]);
  });
});
