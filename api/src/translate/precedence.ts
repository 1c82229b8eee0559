/**
 * Which accepted policies apply to a route, or to a backend, and in which order (GEP-713 defaults
 * and overrides; strategy.ts then decides which of them take effect).
 *
 * Specificity, least specific first —
 * Routes: Gateway < Gateway listener < Namespace (of the HTTPRoute) < Service (a backend of the
 * rule) < Service port < HTTPRoute < HTTPRoute rule (sectionName).
 * Backends (CircuitBreakerPolicy): Gateway < Gateway listener < Namespace (of the Service) <
 * HTTPRoute (all its backends, fallback steps included) < HTTPRoute rule < Service < Service port.
 *
 * Defaults: the more specific takes precedence. Overrides (only on Gateways and Namespaces): the
 * less specific takes precedence, and every override over every default. At equal specificity the
 * older policy takes precedence (then namespace/name order).
 */
import type { Attached } from './policies.js';
import { compareAge } from './policyref.js';
import type { Target } from './targets.js';

/** Where a rule of a route is used: on which gateway and listeners, with which backend Services. */
export interface RuleContext {
  readonly gatewayId: string;
  readonly listeners: readonly string[];
  readonly routeNamespace: string;
  readonly routeName: string;
  readonly ruleName?: string;
  readonly services: readonly ServiceContext[];
}

export interface ServiceContext {
  readonly namespace: string;
  readonly name: string;
  readonly portName?: string;
}

const sameObject = (t: Target, namespace: string, name: string) => t.namespace === namespace && t.name === name;

function gatewayRank(t: Target, ctx: RuleContext): number | undefined {
  if (t.kind !== 'Gateway' || `${t.namespace}/${t.name}` !== ctx.gatewayId) return undefined;
  if (t.sectionName === undefined) return 0;
  return ctx.listeners.includes(t.sectionName) ? 1 : undefined;
}

const namespaceRank = (t: Target, namespace: string): number | undefined =>
  t.kind === 'Namespace' && t.name === namespace ? 2 : undefined;

function routeRank(t: Target, ctx: RuleContext): number | undefined {
  if (t.kind !== 'HTTPRoute' || !sameObject(t, ctx.routeNamespace, ctx.routeName)) return undefined;
  if (t.sectionName === undefined) return 0;
  return t.sectionName === ctx.ruleName ? 1 : undefined;
}

function serviceRank(t: Target, services: readonly ServiceContext[]): number | undefined {
  if (t.kind !== 'Service') return undefined;
  let best: number | undefined;
  for (const s of services) {
    if (!sameObject(t, s.namespace, s.name)) continue;
    if (t.sectionName === undefined) best = Math.max(best ?? 0, 0);
    else if (t.sectionName === s.portName) best = 1;
  }
  return best;
}

/**
 * Candidates in the order strategy.ts folds them: defaults from the most specific (older first at
 * equal specificity), then overrides from the most specific to the least (newer first at equal
 * specificity) — so that the last one folded in takes precedence over everything before it.
 */
function ordered(ranked: { a: Attached; rank: number }[]): Attached[] {
  const defaults = ranked.filter((x) => x.a.model.attachment.role === 'defaults');
  const overrides = ranked.filter((x) => x.a.model.attachment.role === 'overrides');
  defaults.sort((x, y) => y.rank - x.rank || compareAge(x.a.model.meta, y.a.model.meta));
  overrides.sort((x, y) => y.rank - x.rank || compareAge(y.a.model.meta, x.a.model.meta));
  return [...defaults, ...overrides].map((x) => x.a);
}

function best(ranks: (number | undefined)[]): number | undefined {
  const defined = ranks.filter((r): r is number => r !== undefined);
  return defined.length > 0 ? Math.max(...defined) : undefined;
}

const objectKey = (kind: Target['kind'], namespacedName: string) => `${kind}\n${namespacedName}`;
const namespaceKey = (namespace: string) => objectKey('Namespace', `/${namespace}`);

/**
 * The policies of a list by the objects they target, built once per list: a rule looks only at
 * the policies that target its Gateway, its namespace, its HTTPRoute or its Services, not at every
 * policy (with thousands of routes and policies, ranking every pair took seconds).
 */
const indexes = new WeakMap<readonly Attached[], Map<string, Attached[]>>();

function candidates(policies: readonly Attached[], objects: readonly string[]): Attached[] {
  let index = indexes.get(policies);
  if (!index) {
    index = new Map();
    for (const a of policies)
      for (const t of a.targets) {
        const k = objectKey(t.kind, `${t.namespace}/${t.name}`);
        const list = index.get(k);
        if (!list) index.set(k, [a]);
        else if (list[list.length - 1] !== a) list.push(a);
      }
    indexes.set(policies, index);
  }
  const out = new Set<Attached>();
  for (const k of objects) for (const a of index.get(k) ?? []) out.add(a);
  return [...out];
}

/** Policies (of one kind) that apply to a rule, in folding order (see `ordered`). */
export function forRule(policies: readonly Attached[], ctx: RuleContext): Attached[] {
  const ranked: { a: Attached; rank: number }[] = [];
  const objects = [
    objectKey('Gateway', ctx.gatewayId),
    namespaceKey(ctx.routeNamespace),
    objectKey('HTTPRoute', `${ctx.routeNamespace}/${ctx.routeName}`),
    ...ctx.services.map((s) => objectKey('Service', `${s.namespace}/${s.name}`)),
  ];
  for (const a of candidates(policies, objects)) {
    const rank = best(
      a.targets.map((t) => {
        const g = gatewayRank(t, ctx) ?? namespaceRank(t, ctx.routeNamespace);
        if (g !== undefined) return g;
        const s = serviceRank(t, ctx.services);
        if (s !== undefined) return 3 + s;
        const r = routeRank(t, ctx);
        return r !== undefined ? 5 + r : undefined;
      }),
    );
    if (rank !== undefined) ranked.push({ a, rank });
  }
  return ordered(ranked);
}

/** CircuitBreakerPolicies that apply to a backend used by `uses`, in folding order. */
export function forBackend(policies: readonly Attached[], service: ServiceContext, uses: readonly RuleContext[]): Attached[] {
  const ranked: { a: Attached; rank: number }[] = [];
  const objects = [
    objectKey('Service', `${service.namespace}/${service.name}`),
    namespaceKey(service.namespace),
    ...uses.flatMap((ctx) => [objectKey('HTTPRoute', `${ctx.routeNamespace}/${ctx.routeName}`), objectKey('Gateway', ctx.gatewayId)]),
  ];
  for (const a of candidates(policies, objects)) {
    const rank = best(
      a.targets.map((t) => {
        const s = serviceRank(t, [service]);
        if (s !== undefined) return 5 + s;
        const n = namespaceRank(t, service.namespace);
        if (n !== undefined) return n;
        return best(
          uses.map((ctx) => {
            const r = routeRank(t, ctx);
            if (r !== undefined) return 3 + r;
            return gatewayRank(t, ctx);
          }),
        );
      }),
    );
    if (rank !== undefined) ranked.push({ a, rank });
  }
  return ordered(ranked);
}
