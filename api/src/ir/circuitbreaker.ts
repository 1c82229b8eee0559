/** Compiled CircuitBreakerPolicy of a backend (seed §5, §8.2.2). */
import { Type } from '@sinclair/typebox';
import { Millis, Name, PolicyRef, Positive, StatusCode, literals } from './common.js';

const percent = Type.Integer({ minimum: 0, maximum: 100 });

export const BreakerIR = Type.Object({
  /** Sorted. Other 4xx statuses are neutral, every other status a success. */
  failureStatusCodes: Type.Array(StatusCode),
  countTimeouts: Type.Boolean(),
  countConnectErrors: Type.Boolean(),
  consecutiveFailures: Type.Optional(Positive),
  failureRatePercent: percent,
  /** A call is slow when its head (or its failure) came later than thresholdMs after it was sent. */
  slowCall: Type.Optional(Type.Object({ thresholdMs: Millis, ratePercent: percent })),
  /** Count: the last `size` calls; Time: the calls of the last `durationMs`. */
  window: Type.Union([
    Type.Object({ type: Type.Literal('Count'), size: Positive }),
    Type.Object({ type: Type.Literal('Time'), durationMs: Millis }),
  ]),
  minimumCalls: Positive,
  /** successThreshold ≤ maxProbes; a probe still open after probeTimeoutMs fails. */
  halfOpen: Type.Object({ maxProbes: Positive, successThreshold: Positive, probeTimeoutMs: Millis }),
  /** base × (multiplierPercent/100)^reopenings, ± jitterPercent at random, at most max. */
  openDuration: Type.Object({
    baseMs: Millis,
    maxMs: Millis,
    multiplierPercent: Type.Integer({ minimum: 100 }),
    jitterPercent: percent,
  }),
});

export const OutlierDetectionIR = Type.Object({
  intervalMs: Millis,
  consecutive5xx: Positive,
  consecutiveGatewayErrors: Type.Optional(Positive),
  baseEjectionTimeMs: Millis,
  maxEjectionTimeMs: Millis,
  maxEjectionPercent: percent,
  failurePercentage: Type.Optional(Type.Object({ thresholdPercent: percent, minimumHosts: Positive, requestVolume: Positive })),
  /** Eject below mean − stdevFactorPercent/100 × σ of the success rates. */
  successRate: Type.Optional(Type.Object({ minimumHosts: Positive, requestVolume: Positive, stdevFactorPercent: Positive })),
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

export const RetryIR = Type.Object({
  /** Retries after the first try. */
  attempts: Positive,
  /** Time limit of each try (to the end of its answer). */
  perTryTimeoutMs: Type.Optional(Millis),
  /** Status codes sorted. */
  retryOn: Type.Object({ statusCodes: Type.Array(StatusCode), timeouts: Type.Boolean(), connectErrors: Type.Boolean() }),
  /** Full jitter: random up to min(maxMs, baseMs × 2^(retry − 1)); baseMs ≤ maxMs. */
  backoff: Type.Object({ baseMs: Millis, maxMs: Millis }),
  /** Retries in flight < percent × requests in flight, or a token of minRetriesPerSecond. */
  budget: Type.Object({ percent, minRetriesPerSecond: Type.Integer({ minimum: 0 }) }),
});

export const CircuitBreakerIR = Type.Object({
  breaker: Type.Optional(BreakerIR),
  outlierDetection: Type.Optional(OutlierDetectionIR),
  activeHealthCheck: Type.Optional(ActiveHealthCheckIR),
  retry: Type.Optional(RetryIR),
  /** Below this share of healthy, admitted ready endpoints, traffic goes to every ready endpoint; 0: never. */
  panicThresholdPercent: percent,
  /** The policy this comes from. */
  source: PolicyRef,
});
