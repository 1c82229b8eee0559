/**
 * Merging RateLimitPolicies on a route: levels merge by name, the most specific policy's level
 * winning per name and the others inherited — so gateway-wide defaults (say per-IP) survive a
 * route policy with other levels. Store and failure mode come from the most specific policy, the
 * hot-key settings from the most specific policy that has them.
 */
import { compareStrings, sortPolicyRefs } from '../ir/order.js';
import type { PolicyRef, RateLimitIR, RateLimitLevelIR } from '../ir/types.js';
import type { CompiledRateLimit } from './compile/ratelimit.js';

export function mergeRateLimits(
  candidates: readonly { readonly ref: PolicyRef; readonly compiled: CompiledRateLimit }[],
): RateLimitIR | undefined {
  const first = candidates[0];
  if (!first) return undefined;
  const levels = new Map<string, RateLimitLevelIR>();
  const contributors: PolicyRef[] = [first.ref];
  let hotspot: RateLimitIR['hotspot'];
  for (const { ref, compiled } of candidates) {
    let contributed = false;
    for (const level of compiled.levels)
      if (!levels.has(level.name)) {
        levels.set(level.name, level);
        contributed = true;
      }
    if (!hotspot && compiled.hotspot) {
      hotspot = compiled.hotspot;
      contributed = true;
    }
    if (contributed) contributors.push(ref);
  }
  return {
    levels: [...levels.values()].sort((a, b) => compareStrings(a.name, b.name)),
    store: first.compiled.store,
    failureMode: first.compiled.failureMode,
    ...(hotspot ? { hotspot } : {}),
    policies: sortPolicyRefs(contributors),
  };
}
