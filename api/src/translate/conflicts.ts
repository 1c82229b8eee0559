/**
 * GEP-713 conflicts: policies of one kind on the same target (group, kind, name, sectionName).
 * The older policy wins (creationTimestamp), then the first in `namespace/name` order; the others
 * lose that target.
 */
import { compareAge, describeRef } from './policyref.js';
import type { PolicyModel } from './model.js';
import { describeTarget, targetKey, type Target } from './targets.js';

export interface Contender {
  readonly model: PolicyModel;
  readonly targets: readonly Target[];
}

export interface Outcome {
  /** Targets the policy holds. */
  readonly won: readonly Target[];
  /** Targets it lost, with the policy that holds each. */
  readonly lost: readonly { readonly target: Target; readonly winner: PolicyModel }[];
}

export function resolveConflicts(contenders: readonly Contender[]): Map<PolicyModel, Outcome> {
  const holders = new Map<string, PolicyModel>();
  for (const c of contenders)
    for (const t of c.targets) {
      const k = `${c.model.kind}\n${targetKey(t)}`;
      const holder = holders.get(k);
      if (!holder || compareAge(c.model.meta, holder.meta) < 0) holders.set(k, c.model);
    }
  const out = new Map<PolicyModel, Outcome>();
  for (const c of contenders) {
    const won: Target[] = [];
    const lost: { target: Target; winner: PolicyModel }[] = [];
    for (const t of c.targets) {
      const winner = holders.get(`${c.model.kind}\n${targetKey(t)}`)!;
      if (winner === c.model) won.push(t);
      else lost.push({ target: t, winner });
    }
    out.set(c.model, { won, lost });
  }
  return out;
}

/** Why `loser` lost `target` to `winner`, for the Conflicted message. */
export function conflictMessage(loser: PolicyModel, target: Target, winner: PolicyModel): string {
  const w = describeRef({ kind: winner.kind, ...winner.meta });
  const olderByTime = winner.meta.creationTimestamp !== loser.meta.creationTimestamp;
  return `${describeTarget(target)} already has ${w}, which wins as ${olderByTime ? 'the older policy' : 'the first by namespace/name'}`;
}
