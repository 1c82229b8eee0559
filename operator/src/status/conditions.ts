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
