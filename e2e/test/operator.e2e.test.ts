/**
 * The operator on a real apiserver: real jarvis-operator processes, kubectl like an admin, and a
 * gateway-side xDS client like a gateway. The test control plane runs no controllers, so the test
 * creates the EndpointSlices itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { clock, sleep } from '../src/clock.js';
import { condition, endpointSlicesYaml, eventually, percentile, policyStates, type PolicyState } from '../src/cluster.js';
import { examplesDir, loadManifests, validExampleFiles } from '../src/examples.js';
import { connectTestGateway, type TestGateway } from '../src/gateway-client.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { startOperator, type OperatorProcess } from '../src/operator.js';

const NS = 'jarvis';
const GROUP = 'jarvis/jarvis-gateway';
const SERVICES = [
  { name: 'chat-api', port: 8000 },
  { name: 'llm-gpt-4', port: 8000 },
  { name: 'llm-gpt-35-turbo', port: 8000 },
  { name: 'llm-claude-haiku', port: 8000 },
  { name: 'llm-local-model', port: 8000 },
  { name: 'vector-search', port: 6333 },
  { name: 'keyword-search', port: 9200 },
];
const EXTRA = ['missing-target', 'bad-fallback', 'retrieve-cache-late'];

let kubectl: Kubectl;
let kubeconfig: string;
const operators: OperatorProcess[] = [];
const gateways: TestGateway[] = [];
const examplePolicies = validExampleFiles()
  .flatMap(loadManifests)
  .filter((m) => m.apiVersion.startsWith('stability.jarvis.io/'));

type Route = { id: string; rateLimit?: { levels: { name: string; limit: number }[] }; queue?: unknown };
const routeOf = (gw: TestGateway, name: string): Route | undefined =>
  ((gw.gateway()?.routes ?? []) as Route[]).find((r) => r.id.startsWith(`${NS}/${name}/`));

const allEnforced = async (): Promise<PolicyState[] | undefined> => {
  const states = (await policyStates(kubectl, NS)).filter((p) => !EXTRA.includes(p.name));
  const ok =
    states.length === examplePolicies.length &&
    states.every((p) => condition(p, 'Enforced')?.status === 'True' && p.observedGeneration === p.generation);
  return ok ? states : undefined;
};

/** A changed copy of chat-limits, applied the way an admin would. */
function chatLimitsWithUserRate(requests: number): string {
  const source = loadManifests(join(examplesDir, '30-ratelimitpolicies.yaml')).find((m) => m.metadata.name === 'chat-limits');
  const policy = JSON.parse(JSON.stringify(source)) as { spec: { limits: { name: string; rate: { requests: number }; burst?: number }[] } };
  for (const level of policy.spec.limits)
    if (level.name === 'per-user') Object.assign(level, { rate: { requests, per: '1s' }, burst: requests });
  return yaml.dump(policy);
}

beforeAll(async () => {
  kubeconfig = inject('kubeconfig');
  kubectl = kubectlFor(kubeconfig);
  await kubectl.ok(['delete', 'ratelimitpolicy,degradationpolicy,cachepolicy', '-n', NS, '--ignore-not-found', ...EXTRA]);
  await kubectl.ok(['apply', '-f', examplesDir]);
  await kubectl.ok(['apply', '-f', '-'], { input: endpointSlicesYaml(NS, SERVICES) });
  await kubectl(['delete', 'lease', 'jarvis-operator', '-n', 'default', '--ignore-not-found']);
  operators.push(await startOperator({ kubeconfig, id: 'op-a' }));
});

afterAll(async () => {
  for (const gw of gateways) await gw.close();
  for (const op of operators) await op.stop();
  await kubectl(['delete', 'ratelimitpolicy,degradationpolicy,cachepolicy', '-n', NS, '--ignore-not-found', ...EXTRA]);
  await kubectl(['apply', '-f', examplesDir]);
});

describe('jarvis-operator', () => {
  it('accepts every example policy', async () => {
    const states = await eventually('all example policies Accepted=True', async () => {
      const s = await policyStates(kubectl, NS);
      return s.filter((p) => condition(p, 'Accepted')?.status === 'True').length >= examplePolicies.length ? s : undefined;
    });
    for (const p of states) expect(condition(p, 'Accepted'), p.name).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(await fetch(`${operators[0]?.healthUrl}/readyz`).then((r) => r.status)).toBe(200);
  });

  it('pushes the config to a gateway, and Enforced turns True after its ACK', async () => {
    const before = await policyStates(kubectl, NS);
    expect(before.filter((p) => condition(p, 'Enforced')?.status === 'True')).toHaveLength(0); // no gateway yet
    const gw = connectTestGateway({ targets: [operators[0]?.xdsAddress ?? ''], group: GROUP, nodeId: 'gw-1' });
    gateways.push(gw);
    await gw.waitFor('the gateway config', () => gw.gateway());
    expect((gw.gateway()?.routes as Route[]).map((r) => r.id.split('/')[1]).sort()).toEqual(['chat', 'completions', 'retrieve']);
    expect(
      gw
        .backends()
        .map((b) => b.id)
        .sort(),
    ).toEqual(SERVICES.map((s) => `${NS}/${s.name}:${s.port}`).sort());
    const endpoints = gw.backends()[0]?.endpoints as { address: string; ready: boolean }[];
    expect(endpoints).toEqual([expect.objectContaining({ address: expect.stringMatching(/\.localhost$/), ready: true })]);
    await eventually('every example policy Enforced=True', allEnforced);
  });

  it('writes parent status on the HTTPRoutes attached to our Gateway', async () => {
    const route = JSON.parse(await kubectl.ok(['get', 'httproute', 'chat', '-n', NS, '-o', 'json'])) as {
      status: { parents: { controllerName: string; conditions: { type: string; status: string }[] }[] };
    };
    const ours = route.status.parents.find((p) => p.controllerName === 'stability.jarvis.io/gateway-controller');
    expect(ours?.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Accepted', status: 'True' }),
        expect.objectContaining({ type: 'ResolvedRefs', status: 'True' }),
      ]),
    );
  });

  it('propagates kubectl apply to the gateway: p50/p99 over 50 changes', async () => {
    const gw = gateways[0] as TestGateway;
    const fromStart: number[] = [];
    const fromApplied: number[] = [];
    for (let i = 0; i < 50; i++) {
      const requests = 11 + i;
      const manifest = chatLimitsWithUserRate(requests);
      const t0 = clock.now();
      await kubectl.ok(['apply', '-f', '-'], { input: manifest });
      const t1 = clock.now();
      const received = await gw.waitFor(`per-user limit ${requests}`, () =>
        routeOf(gw, 'chat')?.rateLimit?.levels.find((l) => l.name === 'per-user')?.limit === requests ? clock.now() : undefined,
      );
      fromStart.push(received - t0);
      fromApplied.push(received - t1);
    }
    fromStart.sort((a, b) => a - b);
    fromApplied.sort((a, b) => a - b);
    const figures = {
      changes: fromStart.length,
      kubectl_apply_to_gateway_p50_ms: percentile(fromStart, 50),
      kubectl_apply_to_gateway_p99_ms: percentile(fromStart, 99),
      apiserver_write_to_gateway_p50_ms: percentile(fromApplied, 50),
      apiserver_write_to_gateway_p99_ms: percentile(fromApplied, 99),
    };
    console.log(`[figures] propagation ${JSON.stringify(figures)}`);
    // The target (p99 ≤ 1 s) is reported above; the test fails only on a gross regression.
    expect(figures.kubectl_apply_to_gateway_p99_ms).toBeLessThan(5000);
    await eventually('chat-limits Enforced at its latest generation', async () => {
      const p = (await policyStates(kubectl, NS)).find((s) => s.name === 'chat-limits');
      return p && condition(p, 'Enforced')?.status === 'True' && condition(p, 'Enforced')?.observedGeneration === p.generation
        ? p
        : undefined;
    });
  });

  it('a gateway that NACKs keeps Enforced False, naming it, and is not sent the same version again', async () => {
    const nacker = connectTestGateway({
      targets: [operators[0]?.xdsAddress ?? ''],
      group: GROUP,
      nodeId: 'gw-nack',
      reject: (typeUrl) => (typeUrl.endsWith('GatewayResource') ? 'unsupported regular expression' : undefined),
    });
    gateways.push(nacker);
    await nacker.waitFor('a NACK', () => (nacker.rejected.length > 0 ? true : undefined));
    const p = await eventually('chat-limits NotEnforced naming gw-nack', async () => {
      const s = (await policyStates(kubectl, NS)).find((x) => x.name === 'chat-limits');
      const c = s && condition(s, 'Enforced');
      return c?.status === 'False' && c.reason === 'NotEnforced' && c.message.includes('gw-nack') ? c : undefined;
    });
    expect(p.message).toContain('unsupported regular expression');
    const responsesBefore = nacker.rejected.length;
    await sleep(3000); // nothing changes: the server must not resend the rejected version
    expect(nacker.rejected.length).toBe(responsesBefore);
    expect(new Set(nacker.rejected.map((r) => r.version)).size).toBe(nacker.rejected.length);

    await kubectl.ok(['apply', '-f', '-'], { input: chatLimitsWithUserRate(99) });
    await nacker.waitFor('the next version', () => (nacker.rejected.length > responsesBefore ? true : undefined));
    expect(nacker.rejected.at(-1)?.version).not.toBe(nacker.rejected[responsesBefore - 1]?.version);

    await nacker.close();
    gateways.splice(gateways.indexOf(nacker), 1);
    await eventually('every example policy Enforced again once the NACKing gateway left', allEnforced);
  });

  it('removes a deleted policy from the pushed config', async () => {
    const gw = gateways[0] as TestGateway;
    expect(routeOf(gw, 'completions')?.queue).toBeDefined();
    await kubectl.ok(['delete', 'queuepolicy', 'completions-queue', '-n', NS]);
    await gw.waitFor('completions without a queue', () =>
      routeOf(gw, 'completions') && routeOf(gw, 'completions')?.queue === undefined ? true : undefined,
    );
    await kubectl.ok(['apply', '-f', join(examplesDir, '31-queuepolicies.yaml')]);
    await gw.waitFor('completions with its queue again', () => (routeOf(gw, 'completions')?.queue ? true : undefined));
  });

  it('rejects a missing target, a semantic error and a conflict with the right reasons, while the rest stays enforced', async () => {
    const bad = `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: missing-target, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: no-such-route }]
  limits: [{ name: per-ip, scope: ClientIP, rate: { requests: 5, per: 1s } }]
---
apiVersion: stability.jarvis.io/v1alpha1
kind: DegradationPolicy
metadata: { name: bad-fallback, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: chat }]
  fallback:
    chain:
      - { name: primary, backendRef: { name: chat-api, port: 8000 } }
      - { name: backup, backendRef: { name: no-such-service, port: 8000 } }
---
apiVersion: stability.jarvis.io/v1alpha1
kind: CachePolicy
metadata: { name: retrieve-cache-late, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: retrieve }]
  ttl: 10s
`;
    await kubectl.ok(['apply', '-f', '-'], { input: bad });
    const states = await eventually('the three rejections', async () => {
      const s = await policyStates(kubectl, NS);
      const got = EXTRA.map((n) => s.find((p) => p.name === n)).map((p) => p && condition(p, 'Accepted'));
      return got.every((c) => c?.status === 'False') ? got : undefined;
    });
    expect(states[0]).toMatchObject({ reason: 'TargetNotFound', message: expect.stringContaining('no-such-route') });
    expect(states[1]).toMatchObject({ reason: 'Invalid', message: expect.stringContaining('spec.fallback.chain[1].backendRef') });
    expect(states[2]).toMatchObject({ reason: 'Conflicted', message: expect.stringContaining('retrieve-cache') });
    const events = await kubectl.ok(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=bad-fallback', '-o', 'json']);
    expect((JSON.parse(events) as { items: { reason: string }[] }).items.map((e) => e.reason)).toContain('Invalid');
    await eventually('the example policies still enforced', allEnforced);
    await kubectl.ok(['delete', 'ratelimitpolicy', 'missing-target', '-n', NS]);
    await kubectl.ok(['delete', 'degradationpolicy', 'bad-fallback', '-n', NS]);
    await kubectl.ok(['delete', 'cachepolicy', 'retrieve-cache-late', '-n', NS]);
  });

  it('two replicas: one writes status; killing the leader hands over within the lease; gateways fail over keeping their config', async () => {
    const a = operators[0] as OperatorProcess;
    const b = await startOperator({ kubeconfig, id: 'op-b' });
    operators.push(b);
    const holder = async () =>
      (
        JSON.parse(await kubectl.ok(['get', 'lease', 'jarvis-operator', '-n', 'default', '-o', 'json'])) as {
          spec: { holderIdentity?: string };
        }
      ).spec.holderIdentity;
    expect(await holder()).toBe('op-a');
    expect(await a.metric('jarvis_operator_leader')).toBe(1);
    expect(await b.metric('jarvis_operator_leader')).toBe(0);

    const gw = connectTestGateway({ targets: [a.xdsAddress, b.xdsAddress], group: GROUP, nodeId: 'gw-ha' });
    gateways.push(gw);
    await gw.waitFor('config from op-a', () => (gw.gateway() && gw.connectedTo() === a.xdsAddress ? true : undefined));
    await kubectl.ok(['apply', '-f', '-'], { input: chatLimitsWithUserRate(77) });
    await eventually('every example policy Enforced', allEnforced);
    expect(await b.metric('jarvis_operator_status_writes_total')).toBeUndefined(); // the follower wrote nothing
    expect(await a.metric('jarvis_operator_status_writes_total')).toBeGreaterThan(0);

    const killedAt = clock.now();
    await a.kill();
    await eventually('op-b holds the lease', async () => ((await holder()) === 'op-b' ? true : undefined), 30_000, 100);
    const handoverMs = clock.now() - killedAt;
    console.log(`[figures] leader handover after SIGKILL: ${handoverMs} ms (lease duration 4000 ms)`);
    expect(handoverMs).toBeLessThan(4000 + 5000); // the lease, the retry period, and slack for a busy machine
    expect(gw.gateway()).toBeDefined(); // kept its config meanwhile
    // It resumes with the versions it holds; op-b has the same content, so it sends nothing yet.
    await eventually('the gateway connected to op-b', async () =>
      (await b.metric('jarvis_operator_connected_gateways')) === 1 ? true : undefined,
    );

    await kubectl.ok(['apply', '-f', '-'], { input: chatLimitsWithUserRate(78) });
    await gw.waitFor('the change through op-b', () =>
      routeOf(gw, 'chat')?.rateLimit?.levels.find((l) => l.name === 'per-user')?.limit === 78 ? true : undefined,
    );
    await eventually('status written by the new leader', allEnforced);
    expect(await b.metric('jarvis_operator_status_writes_total')).toBeGreaterThan(0);
  });

  it('keeps the apiserver quiet in steady state', async () => {
    const b = operators[1] as OperatorProcess;
    const sample = async () => (await b.metric('jarvis_operator_apiserver_requests_total')) ?? 0;
    await sleep(2000);
    const before = await sample();
    await sleep(15_000);
    const perMinute = ((await sample()) - before) * 4;
    console.log(`[figures] apiserver requests per minute in steady state (leader, lease 4s): ${perMinute}`);
    // Lease renewals dominate (and prove the sample is live); a hot loop would be thousands.
    expect(perMinute).toBeGreaterThan(0);
    expect(perMinute).toBeLessThan(400);
  });
});

// The examples' manifests must parse before anything else (a clearer failure than a timeout).
readFileSync(join(examplesDir, '30-ratelimitpolicies.yaml'), 'utf8');
