#!/usr/bin/env node
/**
 * Operator at scale: 1,000 HTTPRoutes with 1,000 RateLimitPolicies on a real apiserver. Prints
 * the operator's memory before and after, how long it took until every policy was Accepted and
 * a gateway held all routes, and reconcile time. The last line is one JSON object.
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clock, sleep } from '../clock.js';
import { acquireControlPlane } from '../envtest/index.js';
import { connectTestGateway } from '../gateway-client.js';
import { kubectlFor } from '../kubectl.js';
import { startOperator } from '../operator.js';
import { trackDir } from '../util/processes.js';

const COUNT = Number(process.env.JARVIS_SCALE_POLICIES ?? 1000);
const NS = 'jarvis-scale';

function manifests(): string {
  const docs = [
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }`,
    `apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: { name: jarvis }\nspec: { controllerName: stability.jarvis.io/gateway-controller }`,
    `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: scale-gw, namespace: ${NS} }\nspec:\n  gatewayClassName: jarvis\n  listeners: [{ name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: Same } } }]`,
    `apiVersion: v1\nkind: Service\nmetadata: { name: backend, namespace: ${NS} }\nspec: { ports: [{ name: http, port: 8000 }] }`,
  ];
  for (let i = 0; i < COUNT; i++) {
    docs.push(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: route-${i}, namespace: ${NS} }
spec:
  parentRefs: [{ name: scale-gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /api/r${i} } }], backendRefs: [{ name: backend, port: 8000 }] }]`);
    docs.push(`apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: limits-${i}, namespace: ${NS} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: route-${i} }]
  limits:
    - { name: per-user, scope: User, rate: { requests: ${10 + (i % 50)}, per: 1s }, burst: ${20 + (i % 50)} }
    - { name: per-tenant, scope: Tenant, algorithm: SlidingWindow, rate: { requests: 1000, per: 1m } }`);
  }
  return docs.join('\n---\n') + '\n';
}

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[scale] ${line}\n`);
  const cp = await acquireControlPlane({ log });
  const kubectl = kubectlFor(cp.kubeconfig, 600_000);
  const scratch = mkdtempSync(join(tmpdir(), 'jarvis-scale-'));
  trackDir(scratch); // removed when this process exits, however it ends
  const file = join(scratch, 'objects.yaml');
  writeFileSync(file, manifests());
  await kubectl(['delete', 'lease', 'jarvis-operator', '-n', 'default', '--ignore-not-found']);
  const op = await startOperator({ kubeconfig: cp.kubeconfig, id: 'op-scale', leaseDuration: '15s' });
  try {
    await sleep(3000);
    const rssIdle = (await op.metric('jarvis_operator_process_resident_memory_bytes')) ?? NaN;
    const heapIdle = (await op.metric('jarvis_operator_nodejs_heap_size_used_bytes')) ?? NaN;
    log(`applying ${COUNT} HTTPRoutes and ${COUNT} RateLimitPolicies`);
    const t0 = clock.now();
    await kubectl.ok(['apply', '--server-side', '-f', file]);
    const applied = clock.now() - t0;
    const gw = connectTestGateway({ targets: [op.xdsAddress], group: `${NS}/scale-gw`, nodeId: 'gw-scale' });
    await gw.waitFor(
      `${COUNT} routes at the gateway`,
      () => (((gw.gateway()?.routes as unknown[]) ?? []).length === COUNT ? true : undefined),
      300_000,
    );
    const toGateway = clock.now() - t0;
    for (;;) {
      const out = await kubectl.ok([
        'get',
        'ratelimitpolicies',
        '-n',
        NS,
        '-o',
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Enforced")].status}{"\\n"}{end}',
      ]);
      const enforced = out.split('\n').filter((l) => l === 'True').length;
      if (enforced === COUNT) break;
      if (clock.now() - t0 > 600_000) throw new Error(`only ${enforced} of ${COUNT} policies Enforced after 10 minutes`);
      await sleep(2000);
    }
    const toEnforced = clock.now() - t0;
    await sleep(5000);
    const rss = (await op.metric('jarvis_operator_process_resident_memory_bytes')) ?? NaN;
    const heap = (await op.metric('jarvis_operator_nodejs_heap_size_used_bytes')) ?? NaN;
    const reconcileSum = (await op.metric('jarvis_operator_reconcile_duration_seconds_sum')) ?? NaN;
    const reconciles = (await op.metric('jarvis_operator_reconcile_duration_seconds_count')) ?? NaN;
    await gw.close();
    const mb = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
    const figures = {
      policies: COUNT,
      routes: COUNT,
      kubectl_apply_ms: applied,
      apply_to_gateway_config_ms: toGateway,
      apply_to_all_enforced_ms: toEnforced,
      operator_rss_mb_idle: mb(rssIdle),
      operator_rss_mb_loaded: mb(rss),
      operator_heap_mb_idle: mb(heapIdle),
      operator_heap_mb_loaded: mb(heap),
      reconciles,
      reconcile_mean_ms: Math.round((reconcileSum / reconciles) * 1000),
    };
    console.log(JSON.stringify(figures));
  } finally {
    await op.stop();
    await kubectl(['delete', '-f', file, '--ignore-not-found', '--wait=false']);
    await cp.release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
