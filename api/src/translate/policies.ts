/**
 * The Accepted condition of every policy: schema problems and semantic checks (Invalid), then
 * targets (TargetNotFound when none resolves), then GEP-713 conflicts (Conflicted when the policy
 * holds none of its targets). What is accepted attaches to the targets it holds.
 */
import { comparePolicyRefs } from '../ir/order.js';
import type { PolicyRef } from '../ir/types.js';
import type { Catalog } from './catalog.js';
import { semanticFindings } from './checks.js';
import { conflictMessage, resolveConflicts, type Contender } from './conflicts.js';
import type { Finding, Meta, PolicyModel } from './model.js';
import { policyRef } from './policyref.js';
import type { PolicyReason, PolicyResult } from './result.js';
import { resolveTargets, type Target } from './targets.js';

/** An accepted policy and the targets it holds. */
export interface Attached {
  readonly model: PolicyModel;
  readonly ref: PolicyRef;
  readonly targets: readonly Target[];
  /**
   * Only for the settings of several policies merged into one (merge-settings.ts; `model` and
   * `ref` are the highest-precedence policy's): which policy each setting came from.
   */
  readonly origins?: ReadonlyMap<string, Attached>;
}

/** The targetRefs index a finding is about. */
const refIndex = (f: Finding) => Number(/\[(\d+)\]/.exec(f.path)?.[1] ?? 0);

const joined = (findings: readonly Finding[]) => findings.map((f) => `${f.path}: ${f.message}`).join('; ');

function result(kind: PolicyModel['kind'], meta: Meta, reason: PolicyReason, message: string, findings: readonly Finding[]): PolicyResult {
  return {
    ref: { ...policyRef(kind, meta), ...(meta.uid ? { uid: meta.uid } : {}) },
    accepted: { status: reason === 'Accepted', reason, message },
    findings,
  };
}

export function admitPolicies(cat: Catalog): { attached: Attached[]; results: PolicyResult[] } {
  const results: PolicyResult[] = [];
  for (const p of cat.store.invalidPolicies) results.push(result(p.kind, p.meta, 'Invalid', `invalid: ${joined(p.findings)}`, p.findings));

  const contenders: (Contender & { missing: Finding[] })[] = [];
  for (const model of cat.store.policies) {
    const invalid = semanticFindings(cat, model);
    if (invalid.length > 0) {
      results.push(result(model.kind, model.meta, 'Invalid', `invalid: ${joined(invalid)}`, invalid));
      continue;
    }
    const { found, missing } = resolveTargets(cat, model);
    if (found.length === 0) {
      results.push(result(model.kind, model.meta, 'TargetNotFound', `no target found: ${joined(missing)}`, missing));
      continue;
    }
    contenders.push({ model, targets: found, missing });
  }

  const outcomes = resolveConflicts(contenders);
  const attached: Attached[] = [];
  for (const c of contenders) {
    const { won, lost } = outcomes.get(c.model)!;
    const conflicts = lost.map((l) => ({
      path: `spec.targetRefs[${l.target.index}]`,
      message: `conflicted: ${conflictMessage(c.model, l.target, l.winner)}`,
    }));
    if (won.length === 0) {
      results.push(result(c.model.kind, c.model.meta, 'Conflicted', joined(conflicts), conflicts));
      continue;
    }
    const notes = [...c.missing, ...conflicts].sort((a, b) => refIndex(a) - refIndex(b));
    const message =
      notes.length > 0 ? `accepted for ${won.length} of ${c.targets.length + c.missing.length} targets; ${joined(notes)}` : 'accepted';
    results.push({
      ...result(c.model.kind, c.model.meta, 'Accepted', message, notes),
      targets: won.map((t) => ({
        kind: t.kind,
        namespace: t.namespace,
        name: t.name,
        ...(t.sectionName ? { sectionName: t.sectionName } : {}),
      })),
    });
    attached.push({ model: c.model, ref: policyRef(c.model.kind, c.model.meta), targets: won });
  }
  results.sort((a, b) => comparePolicyRefs(a.ref, b.ref));
  return { attached, results };
}
