/**
 * GEP-713 strategies: of the policies of one kind that apply to a route (or a backend), which take
 * effect, and in which order of precedence. The candidates come in folding order (precedence.ts:
 * defaults from the most specific, then overrides from the most specific); each is folded into
 * what the more specific ones set so far, its strategy deciding how:
 *
 * - defaults, Atomic: applies whole, only when nothing more specific applies;
 * - defaults, Merge: fills in what the more specific ones leave unset;
 * - overrides, Atomic: applies whole and replaces everything more specific;
 * - overrides, Merge: takes precedence over the more specific ones, which fill in what it leaves unset.
 *
 * The strategy of the less specific policy decides, so the admin of the Gateway or the Namespace
 * chooses how their settings combine with the routes' owners'. What "unset" means is per kind:
 * merge.ts (RateLimitPolicy: limits by name) and merge-settings.ts (the other kinds).
 */
import type { Attached } from './policies.js';

/** The policies that take effect, highest precedence first. */
export function effective(folding: readonly Attached[]): Attached[] {
  let e: Attached[] = [];
  for (const a of folding) {
    const { role, strategy } = a.model.attachment;
    if (role === 'defaults') {
      if (strategy === 'Merge') e.push(a);
      else if (e.length === 0) e = [a];
    } else e = strategy === 'Atomic' ? [a] : [a, ...e];
  }
  return e;
}
