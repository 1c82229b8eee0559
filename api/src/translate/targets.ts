/** Resolving a policy's targetRefs (GEP-713) against the objects of its namespace. */
import type { Catalog } from './catalog.js';
import { key } from './catalog.js';
import type { Finding, PolicyModel } from './model.js';

export interface Target {
  /** Namespace: every route (rule of an HTTPRoute) and backend Service of the policy's own namespace. */
  readonly kind: 'Gateway' | 'HTTPRoute' | 'Service' | 'Namespace';
  readonly namespace: string;
  readonly name: string;
  /** A listener (Gateway), rule (HTTPRoute) or port (Service) name. */
  readonly sectionName?: string;
  /** Index in spec.targetRefs. */
  readonly index: number;
}

export function describeTarget(t: Omit<Target, 'index'>): string {
  if (t.kind === 'Namespace') return `Namespace ${t.name}`;
  return `${t.kind} ${t.namespace}/${t.name}${t.sectionName ? ` section ${t.sectionName}` : ''}`;
}

/** Same target for conflict purposes: group/kind/name/sectionName (the namespace is the policy's). */
export function targetKey(t: Target): string {
  return `${t.kind}\n${t.namespace}\n${t.name}\n${t.sectionName ?? ''}`;
}

function sectionMissing(cat: Catalog, t: Target, policyNamespace: string): string | undefined {
  const k = key(t.namespace, t.name);
  if (t.kind === 'Namespace')
    return t.name === policyNamespace ? undefined : `a policy targets only its own Namespace (${policyNamespace}), not ${t.name}`;
  if (t.kind === 'Gateway') {
    const gw = cat.gateways.get(k);
    if (!gw) return `Gateway ${k} does not exist`;
    if (t.sectionName !== undefined && !gw.listeners.some((l) => l.name === t.sectionName))
      return `Gateway ${k} has no listener ${t.sectionName}`;
  } else if (t.kind === 'HTTPRoute') {
    const route = cat.routes.get(k);
    if (!route) return `HTTPRoute ${k} does not exist`;
    if (t.sectionName !== undefined && !route.rules.some((r) => r.name === t.sectionName))
      return `HTTPRoute ${k} has no rule named ${t.sectionName}`;
  } else {
    const svc = cat.services.get(k);
    if (!svc) return `Service ${k} does not exist`;
    if (t.sectionName !== undefined && !svc.ports.some((p) => p.name === t.sectionName))
      return `Service ${k} has no port named ${t.sectionName}`;
  }
  return undefined;
}

export function resolveTargets(cat: Catalog, p: PolicyModel): { found: Target[]; missing: Finding[] } {
  const found: Target[] = [];
  const missing: Finding[] = [];
  p.policy.spec.targetRefs.forEach((ref, index) => {
    const t: Target = {
      kind: ref.kind,
      // A Namespace target names a cluster-scoped object: the namespace itself.
      namespace: ref.kind === 'Namespace' ? '' : p.meta.namespace,
      name: ref.name,
      ...('sectionName' in ref && ref.sectionName ? { sectionName: ref.sectionName } : {}),
      index,
    };
    const why = sectionMissing(cat, t, p.meta.namespace);
    if (why) missing.push({ path: `spec.targetRefs[${index}]`, message: why });
    else found.push(t);
  });
  return { found, missing };
}
