/** PolicyRefs and the ordering of policies by age (GEP-713: the older wins, then namespace/name). */
import type { PolicyRef } from '../ir/types.js';
import { compareStrings } from '../ir/order.js';
import type { PolicyKind } from '../schema/kinds.js';
import type { Meta } from './model.js';

export function policyRef(kind: PolicyKind, meta: Meta): PolicyRef {
  return { kind, namespace: meta.namespace, name: meta.name, generation: meta.generation };
}

/**
 * Older first; objects without a creationTimestamp (files) count as the newest; then
 * `namespace/name` order.
 */
export function compareAge(a: Meta, b: Meta): number {
  const ta = a.creationTimestamp === undefined ? Infinity : Date.parse(a.creationTimestamp);
  const tb = b.creationTimestamp === undefined ? Infinity : Date.parse(b.creationTimestamp);
  const byTime = ta === tb || (Number.isNaN(ta) && Number.isNaN(tb)) ? 0 : Number.isNaN(ta) ? 1 : Number.isNaN(tb) ? -1 : ta < tb ? -1 : 1;
  return byTime || compareStrings(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`);
}

export function describeRef(ref: { readonly kind: string; readonly namespace: string; readonly name: string }): string {
  return `${ref.kind} ${ref.namespace}/${ref.name}`;
}
