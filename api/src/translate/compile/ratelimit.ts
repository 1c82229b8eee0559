/** RateLimitPolicy → the levels and settings it contributes to a route (merged in merge.ts). */
import type { Static } from '@sinclair/typebox';
import type { HotspotIR, RateLimitLevelIR as LevelSchema } from '../../ir/ratelimit.js';
import type { Immutable } from '../../ir/common.js';
import { compareStrings } from '../../ir/order.js';
import type { PolicyRef, RateLimitIR } from '../../ir/types.js';
import type { RateLimitPolicy } from '../../schema/kinds.js';
import { DEFAULT_OUTPUT_TOKENS, isBursty } from '../../schema/ratelimit.js';
import { durationMs } from '../duration.js';

/** The claim that names a caller's plan when a level's planClaim is left out. */
export const DEFAULT_PLAN_CLAIM = 'plan';

type Level = Immutable<Static<typeof LevelSchema>>;
type LimitSpec = RateLimitPolicy['spec']['limits'][number];

/** The key of a level: `scope X` is the key [X]; Global is no part at all. */
export function keyOf(l: LimitSpec): Level['key'] {
  const parts: Level['key'][number][] =
    l.key !== undefined
      ? l.key.map((p) => ({ type: p.type, ...(p.name !== undefined ? { name: p.type === 'Header' ? p.name.toLowerCase() : p.name } : {}) }))
      : l.scope === undefined || l.scope === 'Global'
        ? []
        : l.scope === 'Header'
          ? [{ type: 'Header', name: (l.header ?? '').toLowerCase() }]
          : l.scope === 'Claim'
            ? [{ type: 'Claim', name: l.claim ?? '' }]
            : [{ type: l.scope }];
  // Not shared: every route counts on its own.
  if (!l.shared && !parts.some((p) => p.type === 'Route')) parts.push({ type: 'Route' });
  return parts;
}

function whenOf(l: LimitSpec): Level['when'] {
  const w = l.when;
  const values = (list: NonNullable<NonNullable<LimitSpec['when']>['headers']> | undefined, lower: boolean) =>
    (list ?? []).map((c) => ({
      name: lower ? c.name.toLowerCase() : c.name,
      type: c.type,
      ...(c.value !== undefined ? { value: c.value } : {}),
      invert: c.invert,
    }));
  return {
    methods: [...(w?.methods ?? [])].sort(compareStrings),
    ...(w?.path ? { path: { type: w.path.type, value: w.path.value, invert: w.path.invert } } : {}),
    headers: values(w?.headers, true),
    queryParams: values(w?.queryParams, false),
    ...(w?.model ? { model: { type: w.model.type, value: w.model.value, invert: w.model.invert } } : {}),
  };
}

/** What one RateLimitPolicy contributes; levels by name. */
export interface CompiledRateLimit {
  readonly levels: readonly Level[];
  readonly store: RateLimitIR['store'];
  readonly failureMode: RateLimitIR['failureMode'];
  readonly hotspot?: Immutable<Static<typeof HotspotIR>>;
}

export function compileRateLimit(policy: RateLimitPolicy, source: PolicyRef): CompiledRateLimit {
  const spec = policy.spec;
  const levels = spec.limits.map((l): Level => {
    const cost: Level['cost'] =
      l.cost?.fixed !== undefined
        ? { type: 'Fixed', amount: l.cost.fixed }
        : l.cost?.header !== undefined
          ? { type: 'Header', header: l.cost.header.toLowerCase() }
          : l.cost?.llmTokens !== undefined
            ? { type: 'LlmTokens', tokens: l.cost.llmTokens, defaultOutputTokens: l.cost.defaultOutputTokens ?? DEFAULT_OUTPUT_TOKENS }
            : { type: 'Fixed', amount: 1 };
    return {
      name: l.name,
      counter: `${source.namespace}/${source.name}/${l.name}`,
      key: keyOf(l),
      onMissingKey: l.onMissingKey,
      algorithm: l.algorithm,
      limit: l.rate.requests,
      periodMs: durationMs(l.rate.per),
      ...(isBursty(l.algorithm) ? { burst: l.burst ?? l.rate.requests } : {}),
      cost,
      action:
        l.action?.type === 'Wait' && l.action.maxWait !== undefined
          ? { type: 'Wait', maxWaitMs: durationMs(l.action.maxWait) }
          : { type: 'Reject' },
      when: whenOf(l),
      tenantOverrides: (l.tenantOverrides ?? []).map((o) => ({
        tenants: [...o.tenants].sort(compareStrings),
        limit: o.rate.requests,
        periodMs: durationMs(o.rate.per),
        ...(isBursty(l.algorithm) ? { burst: o.burst ?? o.rate.requests } : {}),
      })),
      ...(l.plans !== undefined ? { planClaim: l.planClaim ?? DEFAULT_PLAN_CLAIM } : {}),
      plans: [...(l.plans ?? [])]
        .sort((a, b) => compareStrings(a.name, b.name))
        .map((p) => ({
          name: p.name,
          limit: p.rate.requests,
          periodMs: durationMs(p.rate.per),
          ...(isBursty(l.algorithm) ? { burst: p.burst ?? p.rate.requests } : {}),
        })),
      mode: spec.mode,
      source,
    };
  });
  const h = spec.hotspot;
  return {
    levels,
    store: spec.store,
    failureMode: {
      mode: spec.failureMode.mode,
      timeoutMs: durationMs(spec.failureMode.timeout),
      expectedReplicas: spec.failureMode.expectedReplicas,
    },
    ...(h
      ? {
          hotspot: {
            parameters: h.parameters.map((p) => ({
              source: p.source,
              ...(p.name !== undefined ? { name: p.source === 'Header' ? p.name.toLowerCase() : p.name } : {}),
            })),
            windowMs: durationMs(h.window),
            topK: h.topK,
            minRequests: h.minRequests,
            activateSharePercent: h.activateSharePercent,
            deactivateSharePercent: h.deactivateSharePercent,
            cooldownMs: durationMs(h.cooldown),
            limit: {
              algorithm: h.limit.algorithm,
              limit: h.limit.rate.requests,
              periodMs: durationMs(h.limit.rate.per),
              ...(isBursty(h.limit.algorithm) ? { burst: h.limit.burst ?? h.limit.rate.requests } : {}),
            },
            ...(h.routeSurge
              ? {
                  routeSurge: {
                    multiplierPercent: h.routeSurge.multiplierPercent,
                    baselineWindowMs: durationMs(h.routeSurge.baselineWindow),
                    comparePeers: h.routeSurge.comparePeers,
                  },
                }
              : {}),
            mode: spec.mode,
            source,
          },
        }
      : {}),
  };
}
