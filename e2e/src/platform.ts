/**
 * The Gateway API objects most e2e tests start from, as YAML documents: our GatewayClass
 * (optional), one Gateway with an HTTP listener, one Service, optionally one EndpointSlice naming
 * a host (FQDN) and port, and one HTTPRoute sending to the Service.
 */
export interface PlatformOptions {
  readonly namespace: string;
  /** Include the GatewayClass `jarvis` (cluster-scoped). */
  readonly gatewayClass?: boolean;
  readonly gateway: string;
  /** The listener admits routes of the Gateway's namespace only (`allowedRoutes`). */
  readonly sameNamespaceRoutes?: boolean;
  readonly service: string;
  readonly route: string;
  /** The route's one match; none: every path. */
  readonly pathPrefix?: string;
  /** An EndpointSlice `<service>-1` with this FQDN and port. */
  readonly endpoint?: { readonly host: string; readonly port: number };
}

export function platformYaml(o: PlatformOptions): string {
  const ns = o.namespace;
  const docs: string[] = [];
  if (o.gatewayClass)
    docs.push(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
`);
  const allowed = o.sameNamespaceRoutes ? ', allowedRoutes: { namespaces: { from: Same } }' : '';
  docs.push(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${o.gateway}, namespace: ${ns} }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080${allowed} }]
`);
  docs.push(`apiVersion: v1
kind: Service
metadata: { name: ${o.service}, namespace: ${ns} }
spec: { ports: [{ name: http, port: 80 }] }
`);
  if (o.endpoint)
    docs.push(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${o.service}-1, namespace: ${ns}, labels: { kubernetes.io/service-name: ${o.service} } }
addressType: FQDN
ports: [{ name: http, port: ${o.endpoint.port} }]
endpoints: [{ addresses: [${o.endpoint.host}] }]
`);
  const match = o.pathPrefix !== undefined ? `matches: [{ path: { type: PathPrefix, value: ${o.pathPrefix} } }], ` : '';
  docs.push(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${o.route}, namespace: ${ns} }
spec:
  parentRefs: [{ name: ${o.gateway} }]
  rules: [{ ${match}backendRefs: [{ name: ${o.service}, port: 80 }] }]
`);
  return docs.join('---\n');
}
