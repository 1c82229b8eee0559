/**
 * Endpoint changes reach a running gateway: kubectl → real apiserver → jarvis-operator → xDS (a
 * BackendResource update, the Gateway unchanged) → jarvis-gateway, which compiles its Gateway
 * again with the new endpoints — no restart. Three upstream replicas count their requests; each
 * has its own port, so each is its own EndpointSlice (FQDN `<name>.localhost`: the apiserver
 * refuses loopback IPs, the gateway resolves *.localhost to 127.0.0.1).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { platformYaml } from '../src/platform.js';
import { clock } from '../src/clock.js';
import { eventually } from '../src/cluster.js';
import { startGateway, startUpstream, type GatewayProcess } from '../src/gateway.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { startOperator, type OperatorProcess } from '../src/operator.js';

const NS = 'endpoints-e2e';
type Upstream = Awaited<ReturnType<typeof startUpstream>>;

let kubectl: Kubectl;
let operator: OperatorProcess | undefined;
let gateway: GatewayProcess | undefined;
let gatewayPid: number | undefined;
const replicas: Upstream[] = [];

const slice = (i: number) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: pool-r${i}, namespace: ${NS}, labels: { kubernetes.io/service-name: pool } }
addressType: FQDN
ports: [{ name: http, port: ${replicas[i - 1]?.port ?? 0} }]
endpoints: [{ addresses: [r${i}.localhost], conditions: { ready: true } }]
`;

async function status(): Promise<number> {
  const res = await fetch(`${gateway?.url ?? ''}/api/x`);
  await res.arrayBuffer();
  return res.status;
}

const counts = () => replicas.map((r) => r.requests());

/** Sends `n` requests one after the other; returns how many each replica received. */
async function spread(n: number): Promise<number[]> {
  const before = counts();
  for (let i = 0; i < n; i++) expect(await status()).toBe(200);
  return counts().map((c, i) => c - (before[i] ?? 0));
}

/** Polls every 20 ms until `done`; returns the ms from `from` (the apiserver write) to the first probe that saw it. */
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

/** Runs kubectl and returns when the apiserver has the change (kubectl has exited). */
async function write(args: readonly string[], input?: string): Promise<{ started: number; written: number }> {
  const started = clock.now();
  await kubectl.ok(args, input !== undefined ? { input } : undefined);
  return { started, written: clock.now() };
}

function figure(what: string, t: { started: number; written: number }, ms: number): void {
  console.log(`[figures] ${what}: ${ms} ms after the apiserver write (${ms + t.written - t.started} ms with kubectl's own start-up)`);
}

beforeAll(async () => {
  kubectl = kubectlFor(inject('kubeconfig'));
  for (let i = 0; i < 3; i++) replicas.push(await startUpstream());
  await kubectl(['create', 'namespace', NS]);
  await kubectl.ok(['apply', '-f', '-'], {
    input: `${platformYaml({ namespace: NS, gatewayClass: true, gateway: 'edge', sameNamespaceRoutes: true, service: 'pool', route: 'api', pathPrefix: '/api' })}`,
  });
  await kubectl(['delete', 'lease', 'jarvis-operator', '-n', 'default', '--ignore-not-found']);
  operator = await startOperator({ kubeconfig: inject('kubeconfig'), id: 'op-endpoints' });
  gateway = await startGateway({ name: 'endpoints', args: ['--xds', operator.xdsAddress, '--gateway', `${NS}/edge`] });
  gatewayPid = gateway.child.pid;
  // The Service has no endpoints yet: the route is there, nothing to send to.
  await eventually('503 without endpoints', async () => ((await status()) === 503 ? true : undefined), 15_000, 50);
});

afterAll(async () => {
  await gateway?.stop();
  await operator?.stop();
  for (const r of replicas) await r.close();
  await kubectl(['delete', 'httproute,gateway,service,endpointslice', '--all', '-n', NS, '--ignore-not-found']);
});

describe('endpoint changes reach a running gateway', () => {
  it('applying an EndpointSlice lets traffic flow within 1 s, without a restart', async () => {
    const t = await write(['apply', '-f', '-'], slice(1));
    const ms = await msUntil('200 through the new endpoint', t.written, async () => (await status()) === 200);
    figure('EndpointSlice applied → traffic flows', t, ms);
    expect(ms).toBeLessThan(1000);
    expect(await spread(10)).toEqual([10, 0, 0]);
  });

  it('scaling the endpoints 1 → 3 → 1: the gateway follows each step', async () => {
    const up = await write(['apply', '-f', '-'], `${slice(2)}---\n${slice(3)}`);
    const upMs = await msUntil('requests reaching all three replicas', up.written, async () => {
      const d = await spread(3);
      return d.every((n) => n > 0);
    });
    figure('endpoints scaled 1 → 3 → every replica gets requests', up, upMs);
    expect(upMs).toBeLessThan(1000);
    // Round robin over the three ready endpoints.
    const three = await spread(60);
    expect(three.reduce((a, b) => a + b, 0)).toBe(60);
    for (const n of three) expect(n).toBeGreaterThanOrEqual(15);

    const down = await write(['delete', 'endpointslice', 'pool-r2', 'pool-r3', '-n', NS]);
    const downMs = await msUntil('requests reaching only the first replica', down.written, async () => {
      const d = await spread(6);
      return d[0] === 6;
    });
    figure('endpoints scaled 3 → 1 → only the remaining replica gets requests', down, downMs);
    expect(downMs).toBeLessThan(1000);
    expect(await spread(30)).toEqual([30, 0, 0]);
  });

  it('deleting the last EndpointSlice answers 503 within 1 s', async () => {
    expect(await status()).toBe(200); // it flows before
    const before = counts();
    const t = await write(['delete', 'endpointslice', 'pool-r1', '-n', NS]);
    const ms = await msUntil('503 without endpoints', t.written, async () => (await status()) === 503);
    figure('EndpointSlice deleted → 503', t, ms);
    expect(ms).toBeLessThan(1000);
    const sent = counts()[0]! - before[0]!;
    for (let i = 0; i < 10; i++) expect(await status()).toBe(503);
    expect(counts()[0]! - before[0]!).toBe(sent); // nothing more reached the deleted endpoint
  });

  it('did all of it on one gateway process, config updates applied over xDS', async () => {
    expect(gateway?.child.pid).toBe(gatewayPid);
    expect(gateway?.child.exitCode).toBeNull();
    // The Gateway resource once, then one compile per backends update (1, 3, 1, 0 endpoints).
    expect(await gateway?.metric('jarvis_gateway_config_updates_total', { source: 'xds', result: 'applied' })).toBeGreaterThanOrEqual(5);
  });
});
