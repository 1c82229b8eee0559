/** DegradationPolicy → DegradationIR; fallback backendRefs become backend ids through `backendId`. */
import { compareStrings, shedRuleKey } from '../../ir/order.js';
import type { DegradationIR, PolicyRef } from '../../ir/types.js';
import type { DegradationPolicy } from '../../schema/kinds.js';
import type { ShedRule } from '../../schema/degradation.js';
import type { BackendRef } from '../../schema/common.js';
import { durationMs } from '../duration.js';

const sortedSet = (names: readonly string[]): string[] => [...new Set(names)].sort(compareStrings);

/** Rules with their lists sorted and unique, sorted by classes then triggers, without duplicate rules. */
function shedRules(rules: readonly ShedRule[]): NonNullable<DegradationIR['shedPriorityClasses']> {
  const byKey = new Map<string, { triggers: string[]; classes: string[] }>();
  for (const r of rules) {
    const rule = { triggers: sortedSet(r.triggers), classes: sortedSet(r.classes) };
    byKey.set(shedRuleKey(rule), rule);
  }
  return [...byKey.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, rule]) => rule);
}

/**
 * `backendId` resolves a step's backendRef (in the policy's namespace) to a backend id; the
 * policy's semantic check has made sure it does.
 */
export function compileDegradation(
  policy: DegradationPolicy,
  source: PolicyRef,
  backendId: (ref: BackendRef) => string | undefined,
): DegradationIR {
  const s = policy.spec;
  const fb = s.fallback;
  return {
    ...(fb
      ? {
          fallback: {
            chain: fb.chain.map((step) => {
              const backend = step.backendRef ? backendId(step.backendRef) : undefined;
              return {
                name: step.name,
                ...(backend !== undefined ? { backend } : {}),
                ...(step.model !== undefined ? { model: step.model } : {}),
                ...(step.static
                  ? {
                      static: {
                        status: step.static.status,
                        contentType: step.static.contentType,
                        body: step.static.body,
                        headers: Object.entries(step.static.headers ?? {})
                          .map(([name, value]) => ({ name: name.toLowerCase(), value }))
                          .sort((a, b) => compareStrings(a.name, b.name)),
                      },
                    }
                  : {}),
                ...(step.timeout !== undefined ? { timeoutMs: durationMs(step.timeout) } : {}),
              };
            }),
            retryOn: {
              statusCodes: [...new Set(fb.retryOn.statusCodes)].sort((a, b) => a - b),
              timeouts: fb.retryOn.timeouts,
              connectErrors: fb.retryOn.connectErrors,
              breakerOpen: fb.retryOn.breakerOpen,
            },
            ...(fb.whenTriggered
              ? { whenTriggered: { triggers: [...fb.whenTriggered.triggers].sort(compareStrings), startAt: fb.whenTriggered.startAt } }
              : {}),
          },
        }
      : {}),
    triggers: (s.triggers ?? [])
      .map((t) => ({
        name: t.name,
        type: t.type,
        ...(t.percent ? { percent: { activate: t.percent.activate, deactivate: t.percent.deactivate } } : {}),
        ...(t.latency ? { latency: { activateMs: durationMs(t.latency.activate), deactivateMs: durationMs(t.latency.deactivate) } } : {}),
        windowMs: durationMs(t.window),
        minSamples: t.minSamples,
        holdForMs: durationMs(t.holdFor),
      }))
      .sort((a, b) => compareStrings(a.name, b.name)),
    featureToggles: (s.featureToggles ?? [])
      .map((t) => ({ name: t.name, enabled: t.enabled, disableWhen: [...(t.disableWhen ?? [])].sort(compareStrings) }))
      .sort((a, b) => compareStrings(a.name, b.name)),
    ...(s.shedPriorityClasses ? { shedPriorityClasses: shedRules(s.shedPriorityClasses) } : {}),
    featureHeader: s.featureHeader.toLowerCase(),
    source,
  };
}
