/** RateLimitPolicy → the levels and settings it contributes to a route (merged in merge.ts). */
import type { Static } from '@sinclair/typebox';
import type { HotspotIR, RateLimitLevelIR as LevelSchema } from '../../ir/ratelimit.js';
import type { Immutable } from '../../ir/common.js';
import { compareStrings } from '../../ir/order.js';
import type { PolicyRef, RateLimitIR } from '../../ir/types.js';
import type { RateLimitPolicy } from '../../schema/kinds.js';
import { isBursty } from '../../schema/ratelimit.js';
import { durationMs } from '../duration.js';

type Level = Immutable<Static<typeof LevelSchema>>;

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
            ? { type: 'LlmTokens', tokens: l.cost.llmTokens }
            : { type: 'Fixed', amount: 1 };
    return {
      name: l.name,
      counter: `${source.namespace}/${source.name}/${l.name}`,
      scope: l.scope,
      ...(l.header !== undefined ? { header: l.header.toLowerCase() } : {}),
      ...(l.claim !== undefined ? { claim: l.claim } : {}),
      algorithm: l.algorithm,
      limit: l.rate.requests,
      periodMs: durationMs(l.rate.per),
      ...(isBursty(l.algorithm) ? { burst: l.burst ?? l.rate.requests } : {}),
      cost,
      action:
        l.action?.type === 'Wait' && l.action.maxWait !== undefined
          ? { type: 'Wait', maxWaitMs: durationMs(l.action.maxWait) }
          : { type: 'Reject' },
      methods: [...(l.when?.methods ?? [])].sort(compareStrings),
      headers: (l.when?.headers ?? []).map((h) => ({ name: h.name.toLowerCase(), value: h.value })),
      tenantOverrides: (l.tenantOverrides ?? []).map((o) => ({
        tenants: [...o.tenants].sort(compareStrings),
        limit: o.rate.requests,
        periodMs: durationMs(o.rate.per),
        ...(isBursty(l.algorithm) ? { burst: o.burst ?? o.rate.requests } : {}),
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
