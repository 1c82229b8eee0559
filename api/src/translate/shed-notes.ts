/**
 * What a DegradationPolicy's shedPriorityClasses can do on each route it applies to. The classes
 * it names belong to another policy — the route's QueuePolicy — so they can only be checked route
 * by route, once both policies of the route are known. On a route without a QueuePolicy, or for a
 * name its queue does not have, nothing is shed there; that is not a reason to refuse the policy
 * (its fallback, toggles and the routes where the names match work), so it stays Accepted and its
 * Accepted message and findings name the routes and the classes (`jarvis-policy validate` prints
 * them as warnings).
 */
import { compareStrings } from '../ir/order.js';
import type { PolicyRef, QueueIR } from '../ir/types.js';
import type { Finding } from './model.js';
import type { Attached } from './policies.js';

type RefKey = Pick<PolicyRef, 'kind' | 'namespace' | 'name'>;

const keyOf = (r: RefKey) => `${r.kind}/${r.namespace}/${r.name}`;

/** Routes (RouteIR ids, `namespace/route/rule`) named in one finding; the rest are counted. */
const ROUTES_NAMED = 5;
/** Findings per policy; the rest are counted in the last one. */
const FINDINGS_KEPT = 8;

interface Problem {
  readonly path: string;
  /** The message with `{routes}` where the routes go. */
  readonly template: string;
  readonly routes: Set<string>;
}

function routeList(routes: ReadonlySet<string>): string {
  const sorted = [...routes].sort(compareStrings);
  const named = sorted.slice(0, ROUTES_NAMED).join(', ');
  const more = sorted.length > ROUTES_NAMED ? ` and ${sorted.length - ROUTES_NAMED} more` : '';
  return `${sorted.length === 1 ? 'route' : 'routes'} ${named}${more}`;
}

export class ShedNotes {
  /** Policy key → problem key → the problem and the routes it occurs on. */
  readonly #problems = new Map<string, Map<string, Problem>>();

  /**
   * The DegradationPolicy settings `degradation` (one policy, or a merge) apply to route `routeId`,
   * whose QueuePolicy is `queue` (none: the route has no queue).
   */
  note(routeId: string, degradation: Attached, queue: { readonly a: Attached; readonly ir: QueueIR } | undefined): void {
    if (degradation.model.policy.kind !== 'DegradationPolicy') return;
    const rules = degradation.model.policy.spec.shedPriorityClasses;
    if (!rules) return;
    // The policy the rules came from (the settings may be a merge of several).
    const origin = degradation.origins?.get('shedPriorityClasses') ?? degradation;
    const at = `${origin.model.attachment.path}.shedPriorityClasses`;
    if (!queue) {
      this.#add(origin.ref, at, 'no-queue', 'nothing is shed on {routes}: no QueuePolicy applies there', routeId);
      return;
    }
    const label = `QueuePolicy ${queue.a.ref.namespace}/${queue.a.ref.name}`;
    const classes = new Set(queue.ir.priorityClasses.map((c) => c.name));
    if (classes.size === 0) {
      this.#add(origin.ref, at, `classless ${label}`, `nothing is shed on {routes}: ${label} there has no priority classes`, routeId);
      return;
    }
    const known = [...classes].join(', ');
    rules.forEach((rule, i) => {
      for (const name of rule.classes) {
        if (classes.has(name)) continue;
        this.#add(
          origin.ref,
          `${at}[${i}].classes`,
          `${i} ${name} ${label} ${known}`,
          `${name} is not a priority class of ${label} (${known}), which applies to {routes}: it is not shed there`,
          routeId,
        );
      }
    });
  }

  /** The findings of a policy (none when all it names exists wherever it applies), by path. */
  findings(ref: RefKey): Finding[] {
    const problems = this.#problems.get(keyOf(ref));
    if (!problems) return [];
    const all = [...problems.values()]
      .map((p) => ({ path: p.path, message: p.template.replace('{routes}', routeList(p.routes)) }))
      .sort((a, b) => compareStrings(a.path, b.path) || compareStrings(a.message, b.message));
    if (all.length <= FINDINGS_KEPT) return all;
    const kept = all.slice(0, FINDINGS_KEPT);
    const last = kept[FINDINGS_KEPT - 1]!;
    kept[FINDINGS_KEPT - 1] = { ...last, message: `${last.message} (and ${all.length - FINDINGS_KEPT} more such problems)` };
    return kept;
  }

  #add(ref: RefKey, path: string, key: string, template: string, routeId: string): void {
    const k = keyOf(ref);
    let problems = this.#problems.get(k);
    if (!problems) this.#problems.set(k, (problems = new Map()));
    const pk = `${path}\n${key}`;
    let p = problems.get(pk);
    if (!p) problems.set(pk, (p = { path, template, routes: new Set() }));
    p.routes.add(routeId);
  }
}
