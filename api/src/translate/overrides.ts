/**
 * Which policies were replaced by others. Every place that picks the policies of a route or a
 * backend reports its candidates and the ones whose content made it into the IR; a policy that
 * was a candidate somewhere but contributed nowhere is "overridden", and its status says by which
 * policies (reason Overridden instead of "no route uses its targets"): more specific defaults, or
 * overrides (marked so, with their strategy).
 */
import type { PolicyRef } from '../ir/types.js';
import type { Attached } from './policies.js';

type RefKey = Pick<PolicyRef, 'kind' | 'namespace' | 'name'>;

const keyOf = (r: RefKey) => `${r.kind}/${r.namespace}/${r.name}`;

/** `Kind namespace/name`, and `(overrides, Atomic)` for an override. */
export function policyLabel(a: Attached): string {
  const { kind, namespace, name } = a.ref;
  const { role, strategy } = a.model.attachment;
  return `${kind} ${namespace}/${name}${role === 'overrides' ? ` (overrides, ${strategy})` : ''}`;
}

export class OverrideRecorder {
  /** Policy key → the labels of the policies that won where it lost. */
  readonly #lostTo = new Map<string, Set<string>>();
  readonly #contributed = new Set<string>();

  /** One choice among `candidates`: `winners` (some of the candidates) made it into the IR. */
  note(candidates: readonly Attached[], winners: readonly RefKey[]): void {
    if (candidates.length === 0) return;
    const won = new Set(winners.map(keyOf));
    for (const k of won) this.#contributed.add(k);
    const winnerLabels = candidates.filter((c) => won.has(keyOf(c.ref))).map(policyLabel);
    for (const c of candidates) {
      const k = keyOf(c.ref);
      if (won.has(k)) continue;
      let set = this.#lostTo.get(k);
      if (!set) this.#lostTo.set(k, (set = new Set()));
      for (const w of winnerLabels) set.add(w);
    }
  }

  /** The policies that replace all of `ref` wherever it applies; undefined when it contributes somewhere or applies nowhere. */
  overriddenBy(ref: RefKey): string[] | undefined {
    const k = keyOf(ref);
    if (this.#contributed.has(k)) return undefined;
    const set = this.#lostTo.get(k);
    return set && set.size > 0 ? [...set].sort() : undefined;
  }
}
