/**
 * GEP-713 conflicts: policies of one kind and one role (defaults or overrides) on the same target
 * (group, kind, name, sectionName). The older policy wins (creationTimestamp), then the first in
 * `namespace/name` order; the others lose that target. A policy with defaults and one with
 * overrides on the same target do not conflict: the overrides take precedence (precedence.ts).
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

/** What two policies must share to conflict. */
const slot = (m: PolicyModel, t: Target) => `${m.kind}\n${m.attachment.role}\n${targetKey(t)}`;

export function resolveConflicts(contenders: readonly Contender[]): Map<PolicyModel, Outcome> {
  const holders = new Map<string, PolicyModel>();
  for (const c of contenders)
    for (const t of c.targets) {
      const k = slot(c.model, t);
      const holder = holders.get(k);
      if (!holder || compareAge(c.model.meta, holder.meta) < 0) holders.set(k, c.model);
    }
  const out = new Map<PolicyModel, Outcome>();
  for (const c of contenders) {
    const won: Target[] = [];
    const lost: { target: Target; winner: PolicyModel }[] = [];
    for (const t of c.targets) {
      const winner = holders.get(slot(c.model, t))!;
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
  const role = winner.attachment.role === 'overrides' ? ' with overrides' : '';
  return `${describeTarget(target)} already has ${w}${role}, which wins as ${olderByTime ? 'the older policy' : 'the first by namespace/name'}`;
}
