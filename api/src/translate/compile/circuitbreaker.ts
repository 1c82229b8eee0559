/** CircuitBreakerPolicy → CircuitBreakerIR. */
import type { CircuitBreakerIR, PolicyRef } from '../../ir/types.js';
import { HTTP_PROBE_DEFAULTS } from '../../schema/circuitbreaker.js';
import type { CircuitBreakerPolicy } from '../../schema/kinds.js';
import { durationMs } from '../duration.js';

const sortedCodes = (codes: readonly number[]) => [...new Set(codes)].sort((a, b) => a - b);

export function compileCircuitBreaker(policy: CircuitBreakerPolicy, source: PolicyRef): CircuitBreakerIR {
  const { breaker: b, outlierDetection: o, activeHealthCheck: h } = policy.spec;
  // Type HTTP without an http section probes with the schema's defaults.
  const probe = h?.type === 'HTTP' ? (h.http ?? HTTP_PROBE_DEFAULTS) : undefined;
  return {
    ...(b
      ? {
          breaker: {
            failureStatusCodes: sortedCodes(b.failureStatusCodes),
            countTimeouts: b.countTimeouts,
            countConnectErrors: b.countConnectErrors,
            ...(b.consecutiveFailures !== undefined ? { consecutiveFailures: b.consecutiveFailures } : {}),
            failureRatePercent: b.failureRatePercent,
            ...(b.slowCall ? { slowCall: { thresholdMs: durationMs(b.slowCall.threshold), ratePercent: b.slowCall.ratePercent } } : {}),
            window:
              b.window.type === 'Time' && b.window.duration !== undefined
                ? { type: 'Time', durationMs: durationMs(b.window.duration) }
                : { type: 'Count', size: b.window.size },
            minimumCalls: b.minimumCalls,
            halfOpen: { maxProbes: b.halfOpen.maxProbes, successThreshold: b.halfOpen.successThreshold },
            openDuration: {
              baseMs: durationMs(b.openDuration.base),
              maxMs: durationMs(b.openDuration.max),
              multiplierPercent: b.openDuration.multiplierPercent,
            },
          },
        }
      : {}),
    ...(o
      ? {
          outlierDetection: {
            intervalMs: durationMs(o.interval),
            consecutive5xx: o.consecutive5xx,
            ...(o.consecutiveGatewayErrors !== undefined ? { consecutiveGatewayErrors: o.consecutiveGatewayErrors } : {}),
            baseEjectionTimeMs: durationMs(o.baseEjectionTime),
            maxEjectionTimeMs: durationMs(o.maxEjectionTime),
            maxEjectionPercent: o.maxEjectionPercent,
            ...(o.failurePercentage
              ? {
                  failurePercentage: {
                    thresholdPercent: o.failurePercentage.thresholdPercent,
                    minimumHosts: o.failurePercentage.minimumHosts,
                    requestVolume: o.failurePercentage.requestVolume,
                  },
                }
              : {}),
          },
        }
      : {}),
    ...(h
      ? {
          activeHealthCheck: {
            type: h.type,
            intervalMs: durationMs(h.interval),
            timeoutMs: durationMs(h.timeout),
            unhealthyThreshold: h.unhealthyThreshold,
            healthyThreshold: h.healthyThreshold,
            ...(probe ? { http: { path: probe.path, method: probe.method, expectedStatuses: sortedCodes(probe.expectedStatuses) } } : {}),
          },
        }
      : {}),
    source,
  };
}
