/**
 * EndpointSlice readiness reaches the gateway's endpoint choice through the real control plane:
 * kubectl → apiserver → jarvis-operator → xDS (a backends update) → jarvis-gateway. Three
 * upstream replicas count their requests; each has its own port and EndpointSlice (FQDN
 * `<name>.localhost`: the test apiserver refuses loopback IPs). Marking one endpoint not ready
 * stops traffic to it within 1 s; marking it ready brings it back. The backend carries a
 * CircuitBreakerPolicy (health checks, outlier detection, retries), which shows Enforced=True.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { platformYaml } from '../src/platform.js';
import { clock } from '../src/clock.js';
import { condition, eventually, policyStates } from '../src/cluster.js';
import { startGateway, startUpstream, type GatewayProcess } from '../src/gateway.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { startOperator, type OperatorProcess } from '../src/operator.js';

const NS = 'readiness-e2e';
const BACKEND = `${NS}/pool:80`;
type Upstream = Awaited<ReturnType<typeof startUpstream>>;

let kubectl: Kubectl;
let operator: OperatorProcess | undefined;
let gateway: GatewayProcess | undefined;
const replicas: Upstream[] = [];

const slice = (i: number, ready: boolean) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: pool-r${i}, namespace: ${NS}, labels: { kubernetes.io/service-name: pool } }
addressType: FQDN
ports: [{ name: http, port: ${replicas[i - 1]?.port ?? 0} }]
endpoints: [{ addresses: [r${i}.localhost], conditions: { ready: ${ready} } }]
`;

// Only the test's own requests: the replicas' active health checks (/healthz) are not traffic.
const counts = () => replicas.map((r) => r.requests('/api/'));

/** Sends `n` requests one after the other (all must succeed); how many each replica received. */
async function spread(n: number): Promise<number[]> {
  const before = counts();
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${gateway?.url ?? ''}/api/x`);
    await res.arrayBuffer();
    expect(res.status).toBe(200);
  }
  return counts().map((c, i) => c - (before[i] ?? 0));
}

interface EndpointView {
  address: string;
  ready: boolean;
  receivesTraffic: boolean;
}

async function endpointsSeen(): Promise<EndpointView[]> {
  const res = await fetch(`${gateway?.adminUrl ?? ''}/admin/backends`);
  const body = (await res.json()) as { backends: { id: string; endpoints: EndpointView[] }[] };
  return body.backends.find((b) => b.id === BACKEND)?.endpoints ?? [];
}

/** Polls until `done` (the ms from `from` to the first probe that saw it). */
async function msUntil(what: string, from: number, done: () => Promise<boolean>): Promise<number> {
  let seenAt = 0;
  await eventually(
    what,
    async () => {
      const at = clock.now();
      if (!(await done())) return undefined;
      seenAt = at;
      return true;
    },
    10_000,
    20,
  );
  return seenAt - from;
}

beforeAll(async () => {
  kubectl = kubectlFor(inject('kubeconfig'));
  for (let i = 0; i < 3; i++) replicas.push(await startUpstream());
  await kubectl(['create', 'namespace', NS]);
  await kubectl.ok(['apply', '-f', '-'], {
    input: `${platformYaml({ namespace: NS, gatewayClass: true, gateway: 'edge', sameNamespaceRoutes: true, service: 'pool', route: 'api', pathPrefix: '/api' })}---
apiVersion: stability.jarvis.io/v1alpha1
kind: CircuitBreakerPolicy
metadata: { name: pool, namespace: ${NS} }
spec:
  targetRefs: [{ group: "", kind: Service, name: pool }]
  breaker: { failureRatePercent: 50, minimumCalls: 20 }
  outlierDetection: { interval: 1s, consecutive5xx: 3, baseEjectionTime: 10s, maxEjectionPercent: 34 }
  activeHealthCheck: { type: HTTP, interval: 1s, timeout: 500ms, http: { path: /healthz } }
  retry: { attempts: 1 }
---
${[1, 2, 3].map((i) => slice(i, true)).join('---\n')}`,
  });
  await kubectl(['delete', 'lease', 'jarvis-operator', '-n', 'default', '--ignore-not-found']);
  operator = await startOperator({ kubeconfig: inject('kubeconfig'), id: 'op-readiness' });
  gateway = await startGateway({ name: 'readiness', args: ['--xds', operator.xdsAddress, '--gateway', `${NS}/edge`] });
  await eventually('traffic to all three replicas', async () => ((await spread(6)).every((n) => n > 0) ? true : undefined), 15_000, 50);
});

afterAll(async () => {
  await gateway?.stop();
  await operator?.stop();
  for (const r of replicas) await r.close();
  await kubectl(['delete', 'circuitbreakerpolicy,httproute,gateway,service,endpointslice', '--all', '-n', NS, '--ignore-not-found']);
});

describe('EndpointSlice readiness and the gateway', () => {
  it('the CircuitBreakerPolicy is Enforced=True', async () => {
    await eventually('Enforced=True', async () => {
      const p = (await policyStates(kubectl, NS)).find((x) => x.name === 'pool' && x.kind === 'CircuitBreakerPolicy');
      return p && condition(p, 'Enforced')?.status === 'True' ? p : undefined;
    });
  });

  it('an endpoint marked not ready gets no traffic within 1 s; marked ready, it gets traffic again', async () => {
    const started = clock.now();
    await kubectl.ok(['apply', '-f', '-'], { input: slice(2, false) });
    const written = clock.now();
    const ms = await msUntil('no request reaching the not-ready replica', written, async () => (await spread(9))[1] === 0);
    console.log(
      `[figures] endpoint marked not ready → no more traffic to it: ${ms} ms after the apiserver write (${ms + written - started} ms with kubectl)`,
    );
    expect(ms).toBeLessThan(1000);
    const after = await spread(30);
    expect(after[1]).toBe(0);
    expect(after[0]! + after[2]!).toBe(30);
    const seen = await endpointsSeen();
    expect(seen.find((e) => e.address === 'r2.localhost')).toMatchObject({ ready: false, receivesTraffic: false });

    const back = clock.now();
    await kubectl.ok(['apply', '-f', '-'], { input: slice(2, true) });
    const backWritten = clock.now();
    const backMs = await msUntil('the replica getting traffic again', backWritten, async () => (await spread(6))[1]! > 0);
    console.log(
      `[figures] endpoint marked ready again → traffic: ${backMs} ms after the apiserver write (${backMs + backWritten - back} ms with kubectl)`,
    );
    expect(backMs).toBeLessThan(1000);
  });
});
