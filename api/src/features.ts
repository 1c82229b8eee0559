/**
 * What a gateway enforces, as feature strings it announces in its xDS node (Envoy's
 * `Node.client_features`): one per policy kind (`stability.jarvis.io/QueuePolicy`) and one per
 * optional section of a kind (`stability.jarvis.io/QueuePolicy.async`). The operator turns a
 * policy's `Enforced` condition True only when every gateway serving it announces every feature
 * the policy needs; a gateway that receives config it does not enforce says so in its log and a
 * metric. Both sides derive the features from here, the spec side and the IR side in one file so
 * that they cannot drift apart.
 */
import type { BackendIR, GatewayIR, RouteIR } from './ir/types.js';
import { GROUP, type PolicyKind } from './schema/kinds.js';

/** `stability.jarvis.io/<Kind>`: the gateway enforces the kind's core. */
export function kindFeature(kind: PolicyKind): string {
  return `${GROUP}/${kind}`;
}

/** `stability.jarvis.io/<Kind>.<section>`: the gateway enforces this optional section too. */
export function sectionFeature(kind: PolicyKind, section: string): string {
  return `${GROUP}/${kind}.${section}`;
}

/**
 * The optional sections of each kind (spec field names): a policy that sets one needs the
 * section's feature besides the kind's.
 */
export const POLICY_SECTIONS: Readonly<Record<PolicyKind, readonly string[]>> = {
  RateLimitPolicy: ['hotspot'],
  QueuePolicy: ['async', 'deadLetter'],
  CircuitBreakerPolicy: ['breaker', 'outlierDetection', 'activeHealthCheck', 'retry'],
  DegradationPolicy: ['fallback', 'triggers', 'featureToggles', 'shedPriorityClasses'],
  CachePolicy: [],
  ClientIdentityPolicy: ['jwt', 'apiKeys'],
};

function present(v: unknown): boolean {
  return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
}

/** The features a policy of `kind` with this spec needs from a gateway, sorted. */
export function requiredFeatures(kind: PolicyKind, spec: Readonly<Record<string, unknown>>): string[] {
  const out = [kindFeature(kind)];
  for (const section of POLICY_SECTIONS[kind]) if (present(spec[section])) out.push(sectionFeature(kind, section));
  return out.sort();
}

/** The features a route's compiled policies need, sorted (the gateway's view of the same thing). */
export function routeFeatures(route: RouteIR): string[] {
  const out: string[] = [];
  if (route.rateLimit) {
    out.push(kindFeature('RateLimitPolicy'));
    if (route.rateLimit.hotspot) out.push(sectionFeature('RateLimitPolicy', 'hotspot'));
  }
  if (route.queue) {
    out.push(kindFeature('QueuePolicy'));
    if (route.queue.async) out.push(sectionFeature('QueuePolicy', 'async'));
    if (route.queue.deadLetter) out.push(sectionFeature('QueuePolicy', 'deadLetter'));
  }
  const d = route.degradation;
  if (d) {
    out.push(kindFeature('DegradationPolicy'));
    if (d.fallback) out.push(sectionFeature('DegradationPolicy', 'fallback'));
    if (d.triggers.length > 0) out.push(sectionFeature('DegradationPolicy', 'triggers'));
    if (d.featureToggles.length > 0) out.push(sectionFeature('DegradationPolicy', 'featureToggles'));
    if (d.shedPriorityClasses) out.push(sectionFeature('DegradationPolicy', 'shedPriorityClasses'));
  }
  if (route.cache) out.push(kindFeature('CachePolicy'));
  return out.sort();
}

/** The features a gateway's own settings need (its identity), sorted; its routes' are routeFeatures. */
export function gatewayFeatures(gateway: GatewayIR): string[] {
  const id = gateway.identity;
  if (!id?.source) return [];
  const out = [kindFeature('ClientIdentityPolicy')];
  if (id.jwt) out.push(sectionFeature('ClientIdentityPolicy', 'jwt'));
  if (id.apiKeys) out.push(sectionFeature('ClientIdentityPolicy', 'apiKeys'));
  return out.sort();
}

/** The features a backend's compiled policies need, sorted. */
export function backendFeatures(backend: BackendIR): string[] {
  const cb = backend.circuitBreaker;
  if (!cb) return [];
  const out = [kindFeature('CircuitBreakerPolicy')];
  if (cb.breaker) out.push(sectionFeature('CircuitBreakerPolicy', 'breaker'));
  if (cb.outlierDetection) out.push(sectionFeature('CircuitBreakerPolicy', 'outlierDetection'));
  if (cb.activeHealthCheck) out.push(sectionFeature('CircuitBreakerPolicy', 'activeHealthCheck'));
  if (cb.retry) out.push(sectionFeature('CircuitBreakerPolicy', 'retry'));
  return out.sort();
}

/** Every feature there is: what a gateway that enforced every kind and section would announce. */
export function allFeatures(): string[] {
  return (Object.keys(POLICY_SECTIONS) as PolicyKind[])
    .flatMap((kind) => [kindFeature(kind), ...POLICY_SECTIONS[kind].map((s) => sectionFeature(kind, s))])
    .sort();
}

/** Bounds on what a node may announce (more is refused as a malformed node). */
export const MAX_CLIENT_FEATURES = 256;
export const MAX_FEATURE_LENGTH = 256;
