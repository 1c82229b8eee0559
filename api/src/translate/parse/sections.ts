/**
 * A policy's settings, wherever they are (schema/attachment.ts): at the top level of spec (the
 * kind's default strategy, as defaults), or inside `defaults` or `overrides`. The rest of the
 * translator sees one shape — spec with targetRefs and the settings, every default applied — and
 * the attachment beside it.
 */
import type { Strategy } from '../../schema/attachment.js';
import { kindDefinition, type Policy } from '../../schema/kinds.js';
import { isObject } from '../../validate/schema-node.js';
import type { Attachment } from '../model.js';

/** `policy` has passed validation (schema, defaults, CEL): at most one section, settings complete. */
export function normalizeSections(policy: Policy): { policy: Policy; attachment: Attachment } {
  const spec = policy.spec as unknown as Record<string, unknown>;
  for (const role of ['overrides', 'defaults'] as const) {
    const section = spec[role];
    if (!isObject(section)) continue;
    const { strategy, ...settings } = section;
    const normalized = { ...policy, spec: { targetRefs: spec.targetRefs, ...settings } } as unknown as Policy;
    return { policy: normalized, attachment: { role, strategy: strategy as Strategy, path: `spec.${role}` } };
  }
  const strategy = kindDefinition(policy.kind)?.strategy ?? 'Atomic';
  return { policy, attachment: { role: 'defaults', strategy, path: 'spec' } };
}
