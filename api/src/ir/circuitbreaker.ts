/** Compiled CircuitBreakerPolicy of a backend (seed §5, §8.2.2). */
import { Type } from '@sinclair/typebox';
import { Millis, Name, PolicyRef, Positive, StatusCode, literals } from './common.js';

const percent = Type.Integer({ minimum: 0, maximum: 100 });

export const BreakerIR = Type.Object({
  /** Sorted. */
  failureStatusCodes: Type.Array(StatusCode),
  countTimeouts: Type.Boolean(),
  countConnectErrors: Type.Boolean(),
  consecutiveFailures: Type.Optional(Positive),
  failureRatePercent: percent,
  slowCall: Type.Optional(Type.Object({ thresholdMs: Millis, ratePercent: percent })),
  /** Count: the last `size` calls; Time: the calls of the last `durationMs`. */
  window: Type.Union([
    Type.Object({ type: Type.Literal('Count'), size: Positive }),
    Type.Object({ type: Type.Literal('Time'), durationMs: Millis }),
  ]),
  minimumCalls: Positive,
  halfOpen: Type.Object({ maxProbes: Positive, successThreshold: Positive }),
  /** base × (multiplierPercent/100)^reopenings, at most max. */
  openDuration: Type.Object({ baseMs: Millis, maxMs: Millis, multiplierPercent: Type.Integer({ minimum: 100 }) }),
});

export const OutlierDetectionIR = Type.Object({
  intervalMs: Millis,
  consecutive5xx: Positive,
  consecutiveGatewayErrors: Type.Optional(Positive),
  baseEjectionTimeMs: Millis,
  maxEjectionTimeMs: Millis,
  maxEjectionPercent: percent,
  failurePercentage: Type.Optional(Type.Object({ thresholdPercent: percent, minimumHosts: Positive, requestVolume: Positive })),
});

export const ActiveHealthCheckIR = Type.Object({
  type: literals(['HTTP', 'TCP'] as const),
  intervalMs: Millis,
  /** Shorter than intervalMs. */
  timeoutMs: Millis,
  unhealthyThreshold: Positive,
  healthyThreshold: Positive,
  /** Type HTTP only; statuses sorted. */
  http: Type.Optional(
    Type.Object({ path: Name, method: literals(['GET', 'HEAD'] as const), expectedStatuses: Type.Array(StatusCode, { minItems: 1 }) }),
  ),
});

export const CircuitBreakerIR = Type.Object({
  breaker: Type.Optional(BreakerIR),
  outlierDetection: Type.Optional(OutlierDetectionIR),
  activeHealthCheck: Type.Optional(ActiveHealthCheckIR),
  /** The policy this comes from. */
  source: PolicyRef,
});
