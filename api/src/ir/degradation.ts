/** Compiled DegradationPolicy of a route (seed §4). */
import { Type } from '@sinclair/typebox';
import { Millis, Name, PolicyRef, Positive, StatusCode, literals } from './common.js';

export const StaticResponseIR = Type.Object({
  status: Type.Integer({ minimum: 200, maximum: 599 }),
  contentType: Type.String(),
  body: Type.String(),
  /** Extra response headers, sorted by name (lower case). */
  headers: Type.Array(Type.Object({ name: Name, value: Type.String() })),
});

export const FallbackStepIR = Type.Object({
  /** Unique in the chain; reported in x-jarvis-fallback. */
  name: Name,
  /** Id of a BackendIR of the same config; exactly one of backend and static. */
  backend: Type.Optional(Name),
  /** Rewrite the `model` field of an OpenAI-compatible body for this step. */
  model: Type.Optional(Name),
  /** Answer this response; only the last step. */
  static: Type.Optional(StaticResponseIR),
  /** Time limit of the step. */
  timeoutMs: Type.Optional(Millis),
});

export const FallbackIR = Type.Object({
  /** Steps in order; a static step only last. */
  chain: Type.Array(FallbackStepIR, { minItems: 1 }),
  /** What makes a step fail over. Status codes sorted. */
  retryOn: Type.Object({
    statusCodes: Type.Array(StatusCode),
    timeouts: Type.Boolean(),
    connectErrors: Type.Boolean(),
    breakerOpen: Type.Boolean(),
  }),
  /** While any of `triggers` is active, requests start at step `startAt`. */
  whenTriggered: Type.Optional(Type.Object({ triggers: Type.Array(Name, { minItems: 1 }), startAt: Name })),
});

export const TriggerIR = Type.Object({
  name: Name,
  type: literals(['ErrorRate', 'LatencyP95', 'CPU', 'Memory', 'EventLoopLag'] as const),
  /** ErrorRate, CPU, Memory: activate at or above, deactivate below (lower). */
  percent: Type.Optional(
    Type.Object({ activate: Type.Integer({ minimum: 0, maximum: 100 }), deactivate: Type.Integer({ minimum: 0, maximum: 100 }) }),
  ),
  /** LatencyP95, EventLoopLag: thresholds in ms, deactivateMs < activateMs. */
  latency: Type.Optional(Type.Object({ activateMs: Millis, deactivateMs: Millis })),
  windowMs: Millis,
  minSamples: Positive,
  /** Stay active at least this long. */
  holdForMs: Millis,
});

export const FeatureToggleIR = Type.Object({
  name: Name,
  /** false: off regardless of triggers. */
  enabled: Type.Boolean(),
  /** Trigger names (sorted) that switch the feature off while any is active. */
  disableWhen: Type.Array(Name),
});

export const ShedRuleIR = Type.Object({
  /** Trigger names of the policy, sorted and unique: the classes are shed while any of them is active. */
  triggers: Type.Array(Name, { minItems: 1 }),
  /**
   * Priority class names of the route's QueuePolicy, sorted and unique. A name the route's queue
   * does not have sheds nothing (the translator reports it on the policy's status).
   */
  classes: Type.Array(Name, { minItems: 1 }),
});

export const DegradationIR = Type.Object({
  fallback: Type.Optional(FallbackIR),
  /** Sorted by name. */
  triggers: Type.Array(TriggerIR),
  /** Sorted by name. */
  featureToggles: Type.Array(FeatureToggleIR),
  /**
   * Priority classes the route's queue refuses at once (and sheds from its waiting requests) while
   * a trigger holds. Sorted by classes, then triggers, without duplicates; absent when none.
   */
  shedPriorityClasses: Type.Optional(Type.Array(ShedRuleIR, { minItems: 1 })),
  /** Request header (lower case) telling the upstream the state of every toggle. */
  featureHeader: Name,
  /** The policy this comes from. */
  source: PolicyRef,
});
