/**
 * Condition bookkeeping in the style of metav1.Condition: the transition time moves only when the
 * status changes, and a write is needed only when something a reader can see has changed.
 */
import type { Condition } from '@jarvis/api';

export interface WantedCondition {
  readonly type: string;
  readonly status: boolean;
  readonly reason: string;
  readonly message: string;
}

export interface ConditionUpdate {
  readonly conditions: Condition[];
  readonly changed: boolean;
}

const MAX_MESSAGE = 32_768;

export function mergeConditions(
  existing: readonly Condition[] | undefined,
  wanted: readonly WantedCondition[],
  generation: number,
  nowIso: string,
): ConditionUpdate {
  const previous = new Map((existing ?? []).map((c) => [c.type, c]));
  let changed = (existing ?? []).length !== wanted.length;
  const conditions = wanted.map((w): Condition => {
    const status = w.status ? 'True' : 'False';
    const old = previous.get(w.type);
    const message = w.message.slice(0, MAX_MESSAGE);
    const same = old?.status === status && old.reason === w.reason && old.message === message && old.observedGeneration === generation;
    if (!same) changed = true;
    return {
      type: w.type,
      status,
      reason: w.reason,
      message,
      observedGeneration: generation,
      lastTransitionTime: old?.status === status ? old.lastTransitionTime : nowIso,
    };
  });
  return { conditions, changed };
}

/**
 * Conditions on an object other controllers write to as well (a Gateway's, a GatewayClass's):
 * ours — the wanted types and every type `owned` says is ours — are set or removed; every other
 * condition is kept as it is, where it is. New ones go at the end. `changed` says whether the
 * result differs in anything a reader can see.
 */
export function mergeOwnedConditions(
  existing: readonly Condition[] | undefined,
  wanted: readonly WantedCondition[],
  owned: (type: string) => boolean,
  generation: number,
  nowIso: string,
): ConditionUpdate {
  const ours = mergeConditions(
    (existing ?? []).filter((c) => wanted.some((w) => w.type === c.type)),
    wanted,
    generation,
    nowIso,
  );
  const byType = new Map(ours.conditions.map((c) => [c.type, c]));
  const conditions: Condition[] = [];
  let changed = false;
  for (const c of existing ?? []) {
    const mine = byType.get(c.type);
    if (mine) {
      conditions.push(mine);
      byType.delete(c.type);
      if (!sameCondition(c, mine)) changed = true;
    } else if (owned(c.type))
      changed = true; // ours, no longer wanted: removed
    else conditions.push(c);
  }
  for (const c of byType.values()) {
    conditions.push(c);
    changed = true;
  }
  return { conditions, changed };
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.type === b.type &&
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.observedGeneration === b.observedGeneration &&
    a.lastTransitionTime === b.lastTransitionTime
  );
}
