/**
 * A large standalone config for load tests: HTTPRoutes of the Gateway `gw` in namespace `e2e` (see
 * standaloneConfig in gateway.ts) with three matches each, and a two-level RateLimitPolicy per
 * route, until the text reaches `bytes`. About 930 bytes per route and policy.
 */
export function bulkRoutes(bytes: number, tag = 'bulk'): { text: string; routes: number } {
  const parts: string[] = [];
  let length = 0;
  let i = 0;
  while (length < bytes) {
    const doc = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${tag}-${i}, namespace: e2e, labels: { team: team-${i % 50}, tier: gold } }
spec:
  parentRefs: [{ name: gw }]
  rules:
  - matches:
    - { path: { type: PathPrefix, value: /${tag}/${i}/a }, headers: [{ name: x-tenant, value: t${i} }] }
    - { path: { type: Exact, value: /${tag}/${i}/b }, method: POST }
    - { path: { type: PathPrefix, value: /${tag}/${i}/c }, queryParams: [{ name: v, value: "1" }] }
    backendRefs: [{ name: upstream, port: 80 }]
---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: ${tag}-${i}, namespace: e2e }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${tag}-${i} }]
  store: Memory
  limits:
  - { name: per-ip, scope: ClientIP, rate: { requests: 100, per: 1m } }
  - { name: per-route, scope: Route, rate: { requests: 1000, per: 1m } }
`;
    parts.push(doc);
    length += doc.length;
    i++;
  }
  return { text: parts.join(''), routes: i };
}
