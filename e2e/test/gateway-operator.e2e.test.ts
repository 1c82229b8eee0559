/**
 * The whole system: kubectl → real apiserver → jarvis-operator → xDS → jarvis-gateway → upstream.
 * The test creates the EndpointSlice itself (the test control plane runs no controllers).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { platformYaml } from '../src/platform.js';
import { clock } from '../src/clock.js';
import { condition, eventually, policyStates, applyGatewayClass } from '../src/cluster.js';
import { startGateway, startUpstream, type GatewayProcess } from '../src/gateway.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { startOperator, type OperatorProcess } from '../src/operator.js';

const NS = 'gw-e2e';
let kubectl: Kubectl;
let operator: OperatorProcess | undefined;
let gateway: GatewayProcess | undefined;
let upstream: Awaited<ReturnType<typeof startUpstream>>;
const stateDir = mkdtempSync(join(tmpdir(), 'jarvis-gw-state-'));

const policy = (requests: number) => `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: edge-limits, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  store: Memory
  limits: [{ name: per-user, scope: Header, header: x-user, algorithm: FixedWindow, rate: { requests: ${requests}, per: 1h } }]
`;

/** Sends requests as a fresh user until one is rejected; returns how many were admitted. */
async function admittedFor(gw: GatewayProcess, user: string, max = 50): Promise<number> {
  for (let i = 0; i < max; i++) {
    const res = await fetch(`${gw.url}/api/x`, { headers: { 'x-user': user } });
    await res.arrayBuffer();
    if (res.status === 429) return i;
    if (res.status !== 200) throw new Error(`unexpected status ${res.status}`);
  }
  return max;
}

beforeAll(async () => {
  kubectl = kubectlFor(inject('kubeconfig'));
  upstream = await startUpstream();
  await kubectl(['create', 'namespace', NS]);
  await applyGatewayClass(kubectl);
  await kubectl.ok(['apply', '-f', '-'], {
    input: `${platformYaml({ namespace: NS, gateway: 'edge', sameNamespaceRoutes: true, service: 'upstream', route: 'api', pathPrefix: '/api', endpoint: { host: 'upstream.localhost', port: upstream.port } })}`,
  });
  await kubectl(['delete', 'lease', 'jarvis-operator', '-n', 'default', '--ignore-not-found']);
  operator = await startOperator({ kubeconfig: inject('kubeconfig'), id: 'op-gw' });
});

afterAll(async () => {
  await gateway?.stop();
  await operator?.stop();
  await upstream.close();
  await kubectl(['delete', 'ratelimitpolicy,httproute,gateway,service,endpointslice', '--all', '-n', NS, '--ignore-not-found']);
  rmSync(stateDir, { recursive: true, force: true });
});

describe('gateway with the operator', () => {
  it('enforces an applied RateLimitPolicy, and the policy shows Enforced=True', async () => {
    await kubectl.ok(['apply', '-f', '-'], { input: policy(3) });
    gateway = await startGateway({
      name: 'edge-1',
      args: ['--xds', operator?.xdsAddress ?? '', '--gateway', `${NS}/edge`, '--state-dir', stateDir],
    });
    await eventually(
      'the limit of 3 at the gateway',
      async () => ((await admittedFor(gateway as GatewayProcess, `u-${clock.now()}`)) === 3 ? true : undefined),
      15_000,
      100,
    );
    await eventually('Enforced=True', async () => {
      const p = (await policyStates(kubectl, NS)).find((x) => x.name === 'edge-limits');
      return p && condition(p, 'Enforced')?.status === 'True' ? p : undefined;
    });
  });

  it('holds a patched limit within 1 s', async () => {
    const t0 = clock.now();
    await kubectl.ok(['apply', '-f', '-'], { input: policy(7) });
    const written = clock.now(); // the apiserver has the new spec
    await eventually(
      'the limit of 7',
      async () => ((await admittedFor(gateway as GatewayProcess, `u-${clock.now()}`)) === 7 ? true : undefined),
      10_000,
      50,
    );
    const ms = clock.now() - t0;
    const fromWrite = clock.now() - written;
    console.log(`[figures] kubectl apply → new limit enforced by the gateway: ${ms} ms (${fromWrite} ms after the apiserver write)`);
    // Ours (operator, xDS, gateway) within the target; kubectl's own start-up on top of it.
    expect(fromWrite).toBeLessThan(1000);
    expect(ms).toBeLessThan(3000);
  });

  it('keeps enforcing with the operator stopped, and restarts from its persisted config', async () => {
    await operator?.stop();
    operator = undefined;
    // The gateway has lost its xDS stream (and goes on with the config it has).
    await expect.poll(() => (gateway as GatewayProcess).metric('jarvis_gateway_xds_connected'), { timeout: 10_000 }).toBe(0);
    expect(await admittedFor(gateway as GatewayProcess, 'after-operator-stop')).toBe(7);
    await gateway?.stop();
    gateway = await startGateway({
      name: 'edge-2',
      args: ['--xds', '127.0.0.1:1', '--gateway', `${NS}/edge`, '--state-dir', stateDir],
    });
    expect(await admittedFor(gateway, 'after-gateway-restart')).toBe(7);
    expect(await fetch(`${gateway.adminUrl}/readyz`).then((r) => r.text())).toContain('config state');
  });
});
