/**
 * The orders the IR is kept in: every list is sorted so that equal configs serialize equally,
 * and the match table follows Gateway API precedence.
 */
import type { Immutable } from './common.js';
import type { Static } from '@sinclair/typebox';
import type { MatchIR as MatchIRSchema, PathMatchIR } from './route.js';
import type { PolicyRef as PolicyRefSchema } from './common.js';

type Match = Immutable<Static<typeof MatchIRSchema>>;
type Ref = Immutable<Static<typeof PolicyRefSchema>>;

/** Code-unit order: locale-independent, the same everywhere. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order of a DegradationIR's shed rules: by their classes, then their triggers (each list sorted, joined with commas). */
export function shedRuleKey(rule: { readonly classes: readonly string[]; readonly triggers: readonly string[] }): string {
  return `${rule.classes.join(',')} ${rule.triggers.join(',')}`;
}

/** PolicyRefs by kind, namespace, name (then generation). */
export function comparePolicyRefs(a: Ref, b: Ref): number {
  return (
    compareStrings(a.kind, b.kind) ||
    compareStrings(a.namespace, b.namespace) ||
    compareStrings(a.name, b.name) ||
    a.generation - b.generation
  );
}

/** Sorted, without duplicates (same kind, namespace and name). */
export function sortPolicyRefs<R extends Ref>(refs: Iterable<R>): R[] {
  const out: R[] = [];
  for (const ref of [...refs].sort(comparePolicyRefs)) {
    const last = out[out.length - 1];
    if (!last || comparePolicyRefs(last, ref) !== 0) out.push(ref);
  }
  return out;
}

const PATH_TYPE_RANK: Record<Static<typeof PathMatchIR>['type'], number> = { Exact: 0, RegularExpression: 1, PathPrefix: 2 };

/**
 * Gateway API match precedence: negative when `a` must be tried before `b`, 0 on a tie (which
 * the route's age, then its namespace/name, then rule and match order break).
 *
 * 1. exact path; then regular expression (the spec leaves its place to the implementation: a
 *    pattern is more specific than any prefix); then path prefix; longer values first;
 * 2. a method match; 3. more header matches; 4. more query parameter matches.
 */
export function compareMatchPrecedence(a: Match, b: Match): number {
  return (
    PATH_TYPE_RANK[a.path.type] - PATH_TYPE_RANK[b.path.type] ||
    b.path.value.length - a.path.value.length ||
    Number(b.method !== undefined) - Number(a.method !== undefined) ||
    b.headers.length - a.headers.length ||
    b.queryParams.length - a.queryParams.length
  );
}
