/** Small helpers for e2e tests that read and wait on cluster state through kubectl. */
import type { Condition } from '@jarvis/api';
import { clock, sleep } from './clock.js';
import type { Kubectl } from './kubectl.js';

export interface PolicyState {
  readonly kind: string;
  readonly name: string;
  readonly generation: number;
  readonly observedGeneration?: number;
  readonly conditions: readonly Condition[];
}

interface ListedPolicy {
  kind: string;
  metadata: { name: string; generation: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

/** Every policy of our kinds in a namespace, with its status. */
export async function policyStates(kubectl: Kubectl, namespace: string): Promise<PolicyState[]> {
  const out = await kubectl.ok(['get', 'jarvis', '-n', namespace, '-o', 'json']);
  const items = (JSON.parse(out) as { items: ListedPolicy[] }).items;
  return items.map((p) => ({
    kind: p.kind,
    name: p.metadata.name,
    generation: p.metadata.generation,
    ...(p.status?.observedGeneration !== undefined ? { observedGeneration: p.status.observedGeneration } : {}),
    conditions: p.status?.conditions ?? [],
  }));
}

export function condition(p: PolicyState, type: string): Condition | undefined {
  return p.conditions.find((c) => c.type === type);
}

/** Polls until `probe` returns a value; the error names what was awaited and the last state seen. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const start = clock.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (clock.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(intervalMs);
  }
}

/**
 * EndpointSlices for Services, pointing at processes on this machine (the test control plane runs
 * no controllers). The apiserver refuses loopback IPs in EndpointSlices, so they name the Service
 * as FQDN endpoints under `.localhost`, which RFC 6761 reserves for loopback.
 */
export function endpointSlicesYaml(namespace: string, services: readonly { name: string; port: number }[]): string {
  return services
    .map(
      (s) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${s.name}-e2e
  namespace: ${namespace}
  labels: { kubernetes.io/service-name: ${s.name} }
addressType: FQDN
ports: [{ name: http, port: ${s.port}, protocol: TCP }]
endpoints:
  - addresses: ["${s.name}.localhost"]
    conditions: { ready: true, serving: true, terminating: false }
`,
    )
    .join('---\n');
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

/** Our GatewayClass `jarvis`, applied (idempotent, and with kubectl's annotation, so a later `kubectl apply -f examples/` does not warn). */
export async function applyGatewayClass(kubectl: Kubectl): Promise<void> {
  await kubectl.ok(['apply', '-f', '-'], {
    input:
      'apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: { name: jarvis }\nspec: { controllerName: stability.jarvis.io/gateway-controller }\n',
  });
}
