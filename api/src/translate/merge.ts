/**
 * Merging the RateLimitPolicies that take effect on a route (strategy.ts), highest precedence
 * first. Levels merge by name: each name from the highest-precedence policy that has it, so
 * gateway-wide defaults (say per-IP) survive a route policy with other levels, and an override's
 * level cannot be redefined below it. The hotspot settings come from the highest-precedence policy
 * that has them. Store and failure mode come from the most specific policy that takes effect (the
 * first defaults, else the first overrides) — but never looser than any override's:
 *
 * - store: Memory is looser than Redis (each replica counts alone);
 * - failure mode: Open is looser than Local, Local than Closed; of two Local modes, the one with
 *   fewer expectedReplicas (each replica admits more).
 *
 * Where the chosen failure mode is looser than an override's, the override's applies whole (mode,
 * timeout, expectedReplicas). A policy counts as contributing (for the Overridden condition) when
 * it gives a level, the hotspot settings, or the store or failure mode in effect (credited to the
 * highest-precedence policy that has that value).
 */
import { compareStrings, sortPolicyRefs } from '../ir/order.js';
import type { PolicyRef, RateLimitIR, RateLimitLevelIR } from '../ir/types.js';
import type { CompiledRateLimit } from './compile/ratelimit.js';

export interface RateLimitContributor {
  readonly ref: PolicyRef;
  readonly compiled: CompiledRateLimit;
  readonly role: 'defaults' | 'overrides';
}

const MODE_RANK = { Open: 0, Local: 1, Closed: 2 } as const;

/** Whether failure mode `a` is at least as strict as `b`. */
export function atLeastAsStrict(a: RateLimitIR['failureMode'], b: RateLimitIR['failureMode']): boolean {
  const ra = MODE_RANK[a.mode];
  const rb = MODE_RANK[b.mode];
  if (ra !== rb) return ra > rb;
  return a.mode !== 'Local' || a.expectedReplicas >= b.expectedReplicas;
}

export function mergeRateLimits(contributors: readonly RateLimitContributor[]): RateLimitIR | undefined {
  const first = contributors[0];
  if (!first) return undefined;
  const levels = new Map<string, RateLimitLevelIR>();
  const used = new Set<RateLimitContributor>();
  let hotspot: RateLimitIR['hotspot'];
  for (const c of contributors) {
    for (const level of c.compiled.levels)
      if (!levels.has(level.name)) {
        levels.set(level.name, level);
        used.add(c);
      }
    if (!hotspot && c.compiled.hotspot) {
      hotspot = c.compiled.hotspot;
      used.add(c);
    }
  }
  const base = contributors.find((c) => c.role === 'defaults') ?? first;
  let store = base;
  let failureMode = base;
  for (const o of contributors) {
    if (o.role !== 'overrides') continue;
    if (store.compiled.store === 'Memory' && o.compiled.store === 'Redis') store = o;
    if (!atLeastAsStrict(failureMode.compiled.failureMode, o.compiled.failureMode)) failureMode = o;
  }
  // What is in effect is credited to the highest-precedence policy that sets it so: a policy whose
  // store or failure mode only repeats an override's has not contributed them.
  const sameMode = (a: RateLimitIR['failureMode'], b: RateLimitIR['failureMode']) =>
    a.mode === b.mode && a.timeoutMs === b.timeoutMs && a.expectedReplicas === b.expectedReplicas;
  used.add(contributors.find((c) => c.compiled.store === store.compiled.store) ?? store);
  used.add(contributors.find((c) => sameMode(c.compiled.failureMode, failureMode.compiled.failureMode)) ?? failureMode);
  return {
    levels: [...levels.values()].sort((a, b) => compareStrings(a.name, b.name)),
    store: store.compiled.store,
    failureMode: failureMode.compiled.failureMode,
    ...(hotspot ? { hotspot } : {}),
    policies: sortPolicyRefs(contributors.filter((c) => used.has(c)).map((c) => c.ref)),
  };
}
