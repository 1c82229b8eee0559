/**
 * RBAC is enough and no more: the real jarvis-operator runs against the test apiserver as the
 * chart's ServiceAccount (a client certificate for system:serviceaccount:NS:NAME signed by the
 * test CA), with only the chart's ServiceAccount, ClusterRole, Role and bindings applied, and the
 * flags of the chart's Deployment. It lists and watches everything it needs (ready), writes the
 * status of the examples (the ClientIdentityPolicy's keys read from its labelled Secrets), the
 * HTTPRoutes' parent status, the Gateway's and GatewayClass's status, an Event and its Lease;
 * writing a policy's spec or getting a Secret is refused with 403.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureChartTools, type K8sObject, objectsOf, only, render, RELEASE, RELEASE_NAMESPACE } from '../src/chart/index.js';
import { serviceAccountKubeconfig, type ServiceAccountKubeconfig } from '../src/chart/identity.js';
import { condition, endpointSlicesYaml, eventually, policyStates } from '../src/cluster.js';
import { loadManifests, validExampleFiles } from '../src/examples.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { startOperator, type OperatorProcess } from '../src/operator.js';

/** The examples, moved to a namespace of their own so that every status here is this operator's. */
const NS = 'rbac-e2e';
const SERVICES = [
  { name: 'chat-api', port: 8000 },
  { name: 'llm-gpt-4', port: 8000 },
  { name: 'llm-gpt-35-turbo', port: 8000 },
  { name: 'llm-claude-haiku', port: 8000 },
  { name: 'llm-local-model', port: 8000 },
  { name: 'vector-search', port: 6333 },
  { name: 'keyword-search', port: 9200 },
];
const RBAC_KINDS = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];

let admin: Kubectl;
let sa: ServiceAccountKubeconfig;
let asOperator: Kubectl;
let operator: OperatorProcess | undefined;
let chart: K8sObject[];
const scratch = mkdtempSync(join(tmpdir(), 'jarvis-rbac-'));

const examplePolicies = validExampleFiles()
  .flatMap(loadManifests)
  .filter((m) => m.apiVersion.startsWith('stability.jarvis.io/'));

/** A policy's namespace-wide target names its own namespace: moved along with it. */
function retargeted(m: object, ns: string): object {
  const spec = (m as { spec?: { targetRefs?: { kind: string; name: string }[] } }).spec;
  if (!spec?.targetRefs) return m;
  return { ...m, spec: { ...spec, targetRefs: spec.targetRefs.map((t) => (t.kind === 'Namespace' ? { ...t, name: ns } : t)) } };
}

/** The examples in namespace NS (the Namespace object itself left out; the GatewayClass kept). */
function examplesIn(ns: string): string {
  return validExampleFiles()
    .flatMap(loadManifests)
    .filter((m) => m.kind !== 'Namespace')
    .map((m) => yaml.dump(m.metadata.namespace === undefined ? m : retargeted({ ...m, metadata: { ...m.metadata, namespace: ns } }, ns)))
    .join('---\n');
}

/** The flags of the chart's operator Deployment, without the listeners (the test picks loopback ports). */
function deploymentArgs(objects: readonly K8sObject[]): string[] {
  const deployment = only(objects, 'Deployment', `${RELEASE}-operator`) as unknown as {
    spec: { template: { spec: { containers: { args: string[] }[] } } };
  };
  const args = deployment.spec.template.spec.containers[0]?.args ?? [];
  return args.filter((a) => !a.startsWith('--xds-listen=') && !a.startsWith('--health-listen='));
}

beforeAll(async () => {
  const kubeconfig = inject('kubeconfig');
  admin = kubectlFor(kubeconfig);
  const tools = await ensureChartTools();
  chart = objectsOf(await render(tools.helm));

  await admin(['create', 'namespace', RELEASE_NAMESPACE]);
  await admin(['create', 'namespace', NS]);
  const rbacFile = join(scratch, 'rbac.yaml');
  writeFileSync(
    rbacFile,
    chart
      .filter((o) => RBAC_KINDS.includes(o.kind))
      .map((o) => yaml.dump(o))
      .join('---\n'),
  );
  await admin.ok(['apply', '--server-side', '--field-manager=jarvis-rbac-test', '-f', rbacFile]);

  await admin.ok(['apply', '-f', '-'], { input: examplesIn(NS) });
  await admin.ok(['apply', '-f', '-'], { input: endpointSlicesYaml(NS, SERVICES) });
  // A policy whose target does not exist: Accepted=False, and the operator records an Event.
  await admin.ok(['apply', '-f', '-'], {
    input: `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: orphan, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: no-such-route }]
  limits: [{ name: l, scope: Route, algorithm: FixedWindow, rate: { requests: 1, per: 1m } }]
`,
  });

  sa = await serviceAccountKubeconfig(
    kubeconfig,
    admin,
    { namespace: RELEASE_NAMESPACE, name: `${RELEASE}-operator` },
    join(scratch, 'sa.kubeconfig'),
  );
  asOperator = kubectlFor(sa.kubeconfig);
  const podName = `${RELEASE}-operator-7d9f-rbac`;
  operator = await startOperator({
    kubeconfig: sa.kubeconfig,
    id: podName,
    args: deploymentArgs(chart),
    env: { POD_NAME: podName, POD_NAMESPACE: RELEASE_NAMESPACE },
  });
});

afterAll(async () => {
  await operator?.stop();
  await admin(['delete', 'namespace', NS, '--wait=false', '--ignore-not-found']);
  await admin(['delete', 'namespace', RELEASE_NAMESPACE, '--wait=false', '--ignore-not-found']);
  await admin(['delete', 'clusterrole,clusterrolebinding', '-l', `app.kubernetes.io/instance=${RELEASE}`, '--ignore-not-found']);
  rmSync(scratch, { recursive: true, force: true });
});

describe("the operator as the chart's ServiceAccount", () => {
  it('authenticates as system:serviceaccount:NS:NAME', async () => {
    console.log(`[rbac] the operator runs as ${sa.user} (${sa.how})`);
    const whoami = JSON.parse(await asOperator.ok(['auth', 'whoami', '-o', 'json'])) as { status: { userInfo: { username: string } } };
    expect(whoami.status.userInfo.username).toBe(`system:serviceaccount:${RELEASE_NAMESPACE}:${RELEASE}-operator`);
  });

  it('lists and watches every input: /readyz turns 200', async () => {
    const ready = await eventually(
      'the operator ready',
      async () => {
        const res = await fetch(`${operator?.healthUrl ?? ''}/readyz`);
        const text = await res.text();
        return res.status === 200 ? text : undefined;
      },
      30_000,
    );
    expect(ready).toContain('ok');
  });

  it('writes status: every example policy Accepted=True at its generation, the orphan Accepted=False', async () => {
    const states = await eventually(
      'status on every policy',
      async () => {
        const s = await policyStates(admin, NS);
        const done =
          s.length === examplePolicies.length + 1 && s.every((p) => p.observedGeneration === p.generation && condition(p, 'Accepted'));
        return done ? s : undefined;
      },
      30_000,
    );
    for (const p of states.filter((x) => x.name !== 'orphan')) expect(condition(p, 'Accepted')?.status, `${p.kind} ${p.name}`).toBe('True');
    // The identity example's keys come from its Secrets, which the operator may list and watch.
    const identity = states.find((p) => p.kind === 'ClientIdentityPolicy');
    expect(identity && condition(identity, 'ResolvedRefs')).toMatchObject({ status: 'True', reason: 'ResolvedRefs' });
    expect(condition(states.find((p) => p.name === 'orphan') ?? states[0]!, 'Accepted')).toMatchObject({
      status: 'False',
      reason: 'TargetNotFound',
    });
  });

  it("writes the HTTPRoutes' parent status, an Event for the rejection, and holds its Lease", async () => {
    const routes = JSON.parse(await admin.ok(['get', 'httproutes', '-n', NS, '-o', 'json'])) as {
      items: { metadata: { name: string }; status?: { parents?: { controllerName: string }[] } }[];
    };
    expect(routes.items.map((r) => r.metadata.name).sort()).toEqual(['chat', 'completions', 'retrieve']);
    for (const r of routes.items)
      expect(r.status?.parents?.map((p) => p.controllerName)).toContain('stability.jarvis.io/gateway-controller');

    const events = await eventually('the Event for the orphan policy', async () => {
      const list = JSON.parse(
        await admin.ok(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=orphan', '-o', 'json']),
      ) as {
        items: { reason: string; source?: { component?: string } }[];
      };
      return list.items.length > 0 ? list.items : undefined;
    });
    expect(events[0]).toMatchObject({ reason: 'TargetNotFound', source: { component: 'jarvis-operator' } });

    const lease = JSON.parse(await admin.ok(['get', 'lease', `${RELEASE}-operator`, '-n', RELEASE_NAMESPACE, '-o', 'json'])) as {
      spec: { holderIdentity: string };
    };
    expect(lease.spec.holderIdentity).toBe(`${RELEASE}-operator-7d9f-rbac`);

    // Gateway API status of our GatewayClass and Gateway.
    const gateway = await eventually('the Gateway accepted', async () => {
      const g = JSON.parse(await admin.ok(['get', 'gateway', 'jarvis-gateway', '-n', NS, '-o', 'json'])) as {
        status?: { conditions?: { type: string; status: string }[]; listeners?: { name: string; attachedRoutes: number }[] };
      };
      return g.status?.conditions?.some((c) => c.type === 'Accepted' && c.status === 'True') ? g : undefined;
    });
    expect(gateway.status?.listeners?.[0]?.attachedRoutes).toBe(3);
    const gatewayClass = JSON.parse(await admin.ok(['get', 'gatewayclass', 'jarvis', '-o', 'json'])) as {
      status?: { conditions?: { type: string; status: string }[] };
    };
    expect(gatewayClass.status?.conditions).toContainEqual(expect.objectContaining({ type: 'Accepted', status: 'True' }));
  });

  it("is refused (403) a policy's spec, getting or writing a Secret, other Leases and deleting what it watches", async () => {
    const refused = [
      {
        method: 'PATCH',
        path: `/apis/stability.jarvis.io/v1alpha1/namespaces/${NS}/ratelimitpolicies/chat-limits`,
        body: { spec: { mode: 'Shadow' } },
      },
      { method: 'GET', path: `/api/v1/namespaces/${NS}/secrets/acme-api-keys` },
      { method: 'GET', path: `/api/v1/namespaces/${RELEASE_NAMESPACE}/secrets/anything` },
      { method: 'PATCH', path: `/api/v1/namespaces/${NS}/secrets/acme-api-keys`, body: { metadata: { labels: { x: 'y' } } } },
      { method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${RELEASE_NAMESPACE}/leases/someone-else` },
      { method: 'DELETE', path: `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/chat` },
      { method: 'PATCH', path: `/api/v1/namespaces/${NS}/services/chat-api`, body: { metadata: { labels: { x: 'y' } } } },
    ];
    for (const r of refused) {
      const res = await sa.request(r.method, r.path, r.body);
      expect(res.status, `${r.method} ${r.path}: ${res.text}`).toBe(403);
    }
    // The same policy's status is the operator's to write.
    const status = await sa.request('PATCH', `/apis/stability.jarvis.io/v1alpha1/namespaces/${NS}/ratelimitpolicies/chat-limits/status`, {
      status: {},
    });
    expect(status.status).toBe(200);
    // And kubectl, as an admin would see it.
    const patch = await asOperator([
      'patch',
      'ratelimitpolicy',
      'chat-limits',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"spec":{"mode":"Shadow"}}',
    ]);
    expect(patch.code).not.toBe(0);
    expect(patch.stderr).toContain('Error from server (Forbidden)');
    const secret = await asOperator(['get', 'secret', 'acme-api-keys', '-n', NS]);
    expect(secret.stderr).toContain('Error from server (Forbidden)');
    // What it may do with Secrets is list and watch them — and it asks only for the labelled ones.
    const labelled = await sa.request('GET', `/api/v1/namespaces/${NS}/secrets?labelSelector=stability.jarvis.io%2Fidentity`);
    expect(labelled.status).toBe(200);
    expect((JSON.parse(labelled.text) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name).sort()).toEqual([
      'acme-api-keys',
      'jarvis-idp-jwks',
    ]);
  });
});
