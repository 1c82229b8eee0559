/**
 * A status that tells the truth, on the real control plane with the real gateway: the examples
 * applied, a jarvis-operator and a jarvis-gateway over xDS. Policies of kinds the gateway enforces
 * turn Enforced=True; the kinds it does not enforce yet show Enforced=False, reason Unsupported,
 * naming the gateway and the missing feature; a policy replaced whole by a more specific one shows
 * Overridden.
 */
import { POLICY_KINDS, allFeatures, kindFeature, requiredFeatures, type PolicyKind } from '@jarvis/api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { condition, endpointSlicesYaml, eventually, policyStates, type PolicyState } from '../src/cluster.js';
import { examplesDir, loadManifests, validExampleFiles } from '../src/examples.js';
import { startGateway, startUpstream, type GatewayProcess } from '../src/gateway.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { startOperator, type OperatorProcess } from '../src/operator.js';

const NS = 'jarvis';
const EXTRA = 'chat-api-per-ip';
let kubectl: Kubectl;
let operator: OperatorProcess | undefined;
let gateway: GatewayProcess | undefined;
let upstream: Awaited<ReturnType<typeof startUpstream>> | undefined;

/** The kinds a gateway of this build enforces (each issue that builds a kind adds it here). */
const ENFORCED_KINDS: readonly PolicyKind[] = [
  'RateLimitPolicy',
  'CircuitBreakerPolicy',
  'QueuePolicy',
  'CachePolicy',
  'ClientIdentityPolicy',
  'DegradationPolicy',
];

/**
 * Optional sections of enforced kinds that a gateway of this build does not enforce yet: a policy
 * that sets one shows Unsupported naming it (each issue that builds one removes it here).
 */
const UNENFORCED_SECTIONS: readonly string[] = [];

const examplePolicies = validExampleFiles()
  .flatMap(loadManifests)
  .filter((m) => m.apiVersion.startsWith('stability.jarvis.io/'));

beforeAll(async () => {
  kubectl = kubectlFor(inject('kubeconfig'));
  upstream = await startUpstream();
  await kubectl.ok(['apply', '-f', examplesDir]);
  // Every Service of the examples points at one upstream on loopback (FQDN *.localhost endpoints).
  const services = ['chat-api', 'llm-gpt-4', 'llm-gpt-35-turbo', 'llm-claude-haiku', 'llm-local-model', 'vector-search', 'keyword-search'];
  await kubectl.ok(['apply', '-f', '-'], {
    input: endpointSlicesYaml(
      NS,
      services.map((name) => ({ name, port: upstream?.port ?? 0 })),
    ),
  });
  // A Service-level limit whose only level the chat route's own policy sets too: replaced everywhere it applies.
  await kubectl.ok(['apply', '-f', '-'], {
    input: `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: ${EXTRA}, namespace: ${NS} }
spec:
  targetRefs: [{ group: "", kind: Service, name: chat-api }]
  limits: [{ name: per-ip, scope: ClientIP, algorithm: FixedWindow, rate: { requests: 1000, per: 1m } }]
`,
  });
  await kubectl(['delete', 'lease', 'jarvis-operator', '-n', 'default', '--ignore-not-found']);
  operator = await startOperator({ kubeconfig: inject('kubeconfig'), id: 'op-status' });
  gateway = await startGateway({
    name: 'gw-status',
    // With Redis: the example QueuePolicy's async jobs and dead-letter queue need it.
    args: ['--xds', operator.xdsAddress, '--gateway', `${NS}/jarvis-gateway`, '--redis', inject('redisUrl')],
  });
});

afterAll(async () => {
  await gateway?.stop();
  await operator?.stop();
  await upstream?.close();
  await kubectl(['delete', 'ratelimitpolicy', EXTRA, '-n', NS, '--ignore-not-found']);
  await kubectl(['delete', 'endpointslice', '--all', '-n', NS, '--ignore-not-found']);
});

describe('status with the real gateway', () => {
  it('Enforced=True for the kinds the gateway enforces, Unsupported naming gateway and feature for the others', async () => {
    const states = await eventually(
      'every example policy settled',
      async () => {
        const s = (await policyStates(kubectl, NS)).filter((p) =>
          examplePolicies.some((m) => m.metadata.name === p.name && m.kind === p.kind),
        );
        const settled = s.every((p) => {
          const c = condition(p, 'Enforced');
          return c !== undefined && c.reason !== 'Pending' && c.observedGeneration === p.generation;
        });
        return s.length === examplePolicies.length && settled ? s : undefined;
      },
      30_000,
    );
    const byKind = (kind: string): PolicyState[] => states.filter((p) => p.kind === kind);
    for (const kind of ['RateLimitPolicy', 'QueuePolicy', 'CircuitBreakerPolicy', 'DegradationPolicy', 'CachePolicy'] as const)
      expect(byKind(kind).length, `examples have a ${kind}`).toBeGreaterThan(0);
    for (const p of states) {
      const enforced = condition(p, 'Enforced');
      const manifest = examplePolicies.find((m) => m.metadata.name === p.name && m.kind === p.kind);
      const spec = (manifest as { readonly spec?: Record<string, unknown> } | undefined)?.spec ?? {};
      const missing = requiredFeatures(p.kind as PolicyKind, spec).filter((f) => UNENFORCED_SECTIONS.includes(f));
      if (ENFORCED_KINDS.includes(p.kind as PolicyKind) && missing.length === 0) {
        expect(enforced, `${p.kind} ${p.name}`).toMatchObject({ status: 'True', reason: 'Enforced' });
      } else if (ENFORCED_KINDS.includes(p.kind as PolicyKind)) {
        // Enforced kind, a section not enforced yet: Unsupported, naming exactly those sections.
        expect(enforced, `${p.kind} ${p.name}`).toMatchObject({ status: 'False', reason: 'Unsupported' });
        const listed = [...(enforced?.message ?? '').matchAll(/does not enforce ([^;]*?)(?:;|\.$)/g)].flatMap((m) =>
          (m[1] ?? '').split(', '),
        );
        expect(listed.sort(), `${p.kind} ${p.name}`).toEqual([...missing].sort());
      } else {
        expect(enforced, `${p.kind} ${p.name}`).toMatchObject({ status: 'False', reason: 'Unsupported' });
        expect(enforced?.message).toContain('gw-status');
        expect(enforced?.message).toContain(kindFeature(p.kind as PolicyKind));
      }
    }
    // The traffic agrees: a rate-limited route answers with the RateLimit fields of its policy.
    const res = await fetch(`${gateway?.url}/api/v1/chat`);
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-policy')).toContain('"chat-global"');
    // The cache is on the retrieval route: an anonymous caller has no tenant to scope it by.
    const retrieve = await fetch(`${gateway?.url}/api/v1/retrieve`, {
      method: 'POST',
      body: '{"query":"x"}',
      headers: { 'content-type': 'application/json' },
    });
    await retrieve.arrayBuffer();
    expect(retrieve.headers.get('x-jarvis-cache')).toBe('bypass');
  });

  it('the gateway says which features of its config it does not enforce (metric), and here that is none', async () => {
    // Every kind and section this build does not enforce, and the examples use, is counted.
    const notEnforced = [
      ...POLICY_KINDS.filter((k) => !ENFORCED_KINDS.includes(k)).map((k) => kindFeature(k)),
      ...UNENFORCED_SECTIONS.filter((f) =>
        examplePolicies.some((m) =>
          requiredFeatures(m.kind as PolicyKind, (m as { readonly spec?: Record<string, unknown> }).spec ?? {}).includes(f),
        ),
      ),
    ];
    for (const feature of notEnforced)
      expect(await gateway?.metric('jarvis_gateway_config_unenforced_features', { feature }), feature).toBeGreaterThan(0);
    // Everything else the examples use (every kind, and every section of theirs) is enforced: no sample.
    for (const feature of allFeatures().filter((f) => !notEnforced.includes(f)))
      expect(await gateway?.metric('jarvis_gateway_config_unenforced_features', { feature }), feature).toBeUndefined();
    const config = (await (await fetch(`${gateway?.adminUrl}/admin/config`)).json()) as {
      enforces?: string[];
      unenforced?: Record<string, unknown>;
    };
    expect(config.enforces).toEqual(expect.arrayContaining(ENFORCED_KINDS.map((k) => kindFeature(k))));
    expect(Object.keys(config.unenforced ?? {}).sort()).toEqual([...notEnforced].sort());
  });

  it('a policy replaced whole by a more specific one is Overridden, naming the winner', async () => {
    const p = await eventually('chat-api-per-ip Overridden', async () => {
      const s = (await policyStates(kubectl, NS)).find((x) => x.name === EXTRA);
      return s && condition(s, 'Enforced')?.reason === 'Overridden' ? s : undefined;
    });
    expect(condition(p, 'Accepted')).toMatchObject({ status: 'True' });
    expect(condition(p, 'Enforced')).toMatchObject({
      status: 'False',
      message: expect.stringContaining('RateLimitPolicy jarvis/chat-limits'),
    });
  });
});
