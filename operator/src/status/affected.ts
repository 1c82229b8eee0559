/**
 * Which policies affect a target (GEP-713's `<Kind>Affected` conditions): on each HTTPRoute parent
 * of ours, the policies compiled into that route's rules on that Gateway — its own, inherited from
 * the Gateway, from the Services it sends to (breakers), and the Gateway's ClientIdentityPolicy;
 * on each Gateway, the accepted policies that target it. One condition per kind:
 * `stability.jarvis.io/RateLimitPolicyAffected`, True, reason Accepted, naming the policies.
 */
import { GROUP, compareStrings, type BackendIR, type GatewayIR, type PolicyRef } from '@jarvis/api';
import type { WantedCondition } from './conditions.js';

/** The condition type of a kind. */
export const affectedType = (kind: string): string => `${GROUP}/${kind}Affected`;

/** Whether a condition type is one of ours (we set and remove them). */
export const isAffectedType = (type: string): boolean => type.startsWith(`${GROUP}/`) && type.endsWith('Affected');

/** One condition per kind, sorted by kind; the names sorted, listed once. */
export function affectedConditions(refs: Iterable<Pick<PolicyRef, 'kind' | 'namespace' | 'name'>>): WantedCondition[] {
  const byKind = new Map<string, Set<string>>();
  for (const r of refs) {
    let names = byKind.get(r.kind);
    if (!names) byKind.set(r.kind, (names = new Set()));
    names.add(`${r.namespace}/${r.name}`);
  }
  return [...byKind.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([kind, names]) => ({
      type: affectedType(kind),
      status: true,
      reason: 'Accepted',
      message: `Affected by ${kind} ${[...names].sort(compareStrings).join(', ')}.`.slice(0, 4096),
    }));
}

/** The policies that act on the rules of HTTPRoute `namespace/name` through Gateway `gateway`. */
export function routePolicies(gateway: GatewayIR, backends: ReadonlyMap<string, BackendIR>, namespace: string, name: string): PolicyRef[] {
  const out: PolicyRef[] = [];
  if (gateway.identity?.source) out.push(gateway.identity.source);
  for (const r of gateway.routes) {
    if (r.route.namespace !== namespace || r.route.name !== name) continue;
    out.push(...(r.rateLimit?.policies ?? []));
    if (r.queue) out.push(r.queue.source);
    if (r.degradation) out.push(r.degradation.source);
    if (r.cache) out.push(r.cache.source);
    const ids = [
      ...r.backends.map((b) => b.backend),
      ...(r.degradation?.fallback?.chain ?? []).flatMap((s) => (s.backend ? [s.backend] : [])),
    ];
    for (const id of ids) out.push(...(backends.get(id)?.policies ?? []));
  }
  return out;
}
