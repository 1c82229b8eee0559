/** The RouteIRs of one route attachment: one per rule, with the policies that apply to it. */
import type { PolicyRef, RouteIR } from '../ir/types.js';
import type { PolicyKind } from '../schema/kinds.js';
import type { RouteAttachment } from './attach.js';
import type { Compiler } from './compiler.js';
import { mergeRateLimits } from './merge.js';
import type { MatchModel, ValueMatchModel } from './model.js';
import type { Attached } from './policies.js';
import type { OverrideRecorder } from './overrides.js';
import type { ShedNotes } from './shed-notes.js';
import { forRule, type RuleContext } from './precedence.js';
import { effective } from './strategy.js';
import type { RuleBackends } from './routebackends.js';
import { compareStrings } from '../ir/order.js';

export interface BuiltRoute {
  readonly ir: RouteIR;
  readonly context: RuleContext;
  /** Every policy compiled into the route. */
  readonly policies: readonly PolicyRef[];
  /** The DegradationPolicy that won, if any (its fallback backends are backends of the config). */
  readonly degradation?: Attached;
}

/** Sorted by name; of several entries with one name only the first counts (Gateway API). */
function valueMatches(list: readonly ValueMatchModel[]): { name: string; type: ValueMatchModel['type']; value: string }[] {
  const seen = new Set<string>();
  return list
    .filter((m) => !seen.has(m.name) && seen.add(m.name))
    .map((m) => ({ name: m.name, type: m.type, value: m.value }))
    .sort((a, b) => compareStrings(a.name, b.name));
}

function matchIR(m: MatchModel): RouteIR['matches'][number] {
  return {
    path: { type: m.path.type, value: m.path.value },
    ...(m.method !== undefined ? { method: m.method } : {}),
    headers: valueMatches(m.headers),
    queryParams: valueMatches(m.queryParams),
  };
}

export function buildRoutes(
  attachment: RouteAttachment,
  rules: readonly RuleBackends[],
  policies: ReadonlyMap<PolicyKind, readonly Attached[]>,
  compile: Compiler,
  overrides: OverrideRecorder,
  shed: ShedNotes,
): BuiltRoute[] {
  const { route } = attachment;
  const of = (kind: PolicyKind) => policies.get(kind) ?? [];
  return route.rules.map((rule, index) => {
    const backends = rules[index]!;
    const context: RuleContext = {
      gatewayId: attachment.gatewayId,
      listeners: attachment.listeners,
      routeNamespace: route.meta.namespace,
      routeName: route.meta.name,
      ...(rule.name !== undefined ? { ruleName: rule.name } : {}),
      services: backends.backends.map((b) => ({
        namespace: b.namespace,
        name: b.service,
        ...(b.port.name ? { portName: b.port.name } : {}),
      })),
    };
    const limits = forRule(of('RateLimitPolicy'), context);
    const rateLimit = mergeRateLimits(
      effective(limits).map((a) => ({ ref: a.ref, compiled: compile.rateLimit(a), role: a.model.attachment.role })),
    );
    overrides.note(limits, rateLimit?.policies ?? []);
    /** The policies of a kind that take effect, as one (queue, degradation, cache). */
    const used: Attached[] = [];
    const winner = (kind: PolicyKind): Attached | undefined => {
      const candidates = forRule(of(kind), context);
      const combined = compile.combined(effective(candidates));
      overrides.note(candidates, combined ? combined.used.map((a) => a.ref) : []);
      if (combined) used.push(...combined.used);
      return combined?.a;
    };
    const queue = winner('QueuePolicy');
    const degradation = winner('DegradationPolicy');
    const cache = winner('CachePolicy');
    const ir: RouteIR = {
      id: `${route.meta.namespace}/${route.meta.name}/${rule.name ?? `rule-${index}`}`,
      route: { namespace: route.meta.namespace, name: route.meta.name },
      ruleIndex: index,
      listeners: attachment.listeners,
      hostnames: attachment.hostnames,
      matches: rule.matches.map(matchIR),
      backends: backends.backends.map((b) => ({ backend: b.id, weight: b.weight })),
      unresolvedWeight: backends.unresolvedWeight,
      ...(rateLimit ? { rateLimit } : {}),
      ...(queue ? { queue: compile.queue(queue) } : {}),
      ...(degradation ? { degradation: compile.degradation(degradation) } : {}),
      ...(cache ? { cache: compile.cache(cache) } : {}),
      ...(rule.timeouts ? { timeouts: rule.timeouts } : {}),
    };
    if (degradation) shed.note(ir.id, degradation, queue && ir.queue ? { a: queue, ir: ir.queue } : undefined);
    const refs = [...(rateLimit?.policies ?? []), ...used.map((a) => a.ref)];
    return { ir, context, policies: refs, ...(degradation ? { degradation } : {}) };
  });
}
