/** Compiled RateLimitPolicy levels of a route (seed §2, §6). */
import { Type } from '@sinclair/typebox';
import { Millis, Name, PolicyRef, Positive, literals } from './common.js';

/** What a counter key is made of (the API's KEY_PART_TYPES; the IR has no scopes, only keys). */
export const KeyPartTypeIR = literals([
  'ClientIP',
  'User',
  'Tenant',
  'Model',
  'Route',
  'Service',
  'Header',
  'Claim',
  'QueryParam',
  'Path',
] as const);

/** One part of a level's counter key. */
export const KeyPartIR = Type.Object({
  type: KeyPartTypeIR,
  /** Header (lower case), Claim (dotted path) and QueryParam (exact) only: the name. */
  name: Type.Optional(Name),
});

/** A header or query parameter condition of a level. */
export const ValueConditionIR = Type.Object({
  /** Header names lower case; query parameter names as written. */
  name: Name,
  /** RegularExpression: an RE2 pattern (regex.ts) matching the whole value. Present: every value matches. */
  type: literals(['Exact', 'RegularExpression', 'Present'] as const),
  /** Absent exactly for Present. */
  value: Type.Optional(Type.String()),
  /** The condition holds when the match fails. */
  invert: Type.Boolean(),
});

/** When a level counts a request: every present condition holds. */
export const LevelWhenIR = Type.Object({
  /** Upper case, sorted; empty: every method. */
  methods: Type.Array(Name),
  /** The normalized request path. PathPrefix matches by segment, like routes. */
  path: Type.Optional(
    Type.Object({ type: literals(['Exact', 'PathPrefix', 'RegularExpression'] as const), value: Name, invert: Type.Boolean() }),
  ),
  headers: Type.Array(ValueConditionIR),
  queryParams: Type.Array(ValueConditionIR),
  /** The model of an OpenAI-compatible body; a request without one does not match (before invert). */
  model: Type.Optional(Type.Object({ type: literals(['Exact', 'RegularExpression'] as const), value: Name, invert: Type.Boolean() })),
});
export const RateLimitAlgorithmIR = literals(['TokenBucket', 'GCRA', 'SlidingWindow', 'SlidingLog', 'FixedWindow'] as const);

/** A limit of `limit` requests (or cost units) per `periodMs`. */
const rateFields = {
  limit: Positive,
  periodMs: Type.Number({ exclusiveMinimum: 0 }),
};

export const TenantOverrideIR = Type.Object({
  /** Sorted. */
  tenants: Type.Array(Name, { minItems: 1 }),
  ...rateFields,
  /** TokenBucket and GCRA only: defaults to the limit. */
  burst: Type.Optional(Positive),
});

export const CostIR = Type.Union([
  /** Every request costs `amount`. */
  Type.Object({ type: Type.Literal('Fixed'), amount: Positive }),
  /** Cost from a request header (lower case); a request without it costs 1. */
  Type.Object({ type: Type.Literal('Header'), header: Name }),
  /**
   * LLM tokens of an OpenAI-compatible call: reserved from the request's estimate at admission,
   * settled from the answer's usage. `defaultOutputTokens` is the output reserved for a request
   * that sets no output ceiling.
   */
  Type.Object({
    type: Type.Literal('LlmTokens'),
    tokens: literals(['Input', 'Output', 'Total'] as const),
    defaultOutputTokens: Positive,
  }),
]);

export const RateLimitLevelIR = Type.Object({
  /** Level name; unique in the route's levels. */
  name: Name,
  /**
   * Counter identity: `<policy namespace>/<policy name>/<level name>`. Every route that inherits
   * the same level shares these counters (a level that is not shared has a Route key part).
   */
  counter: Name,
  /**
   * The counter key, in order (at most 8 parts, each type and name once): one counter per
   * combination of values. Empty: one counter for every request the level applies to.
   */
  key: Type.Array(KeyPartIR, { maxItems: 8 }),
  /** A request without a value for some key part: Anonymous counts it under one shared anonymous value, Skip leaves the level out, Reject refuses it (403). */
  onMissingKey: literals(['Anonymous', 'Skip', 'Reject'] as const),
  algorithm: RateLimitAlgorithmIR,
  ...rateFields,
  /** TokenBucket and GCRA only: capacity / tolerance, defaulted to `limit`. */
  burst: Type.Optional(Positive),
  cost: CostIR,
  /** Reject: 429. Wait: hold the request for at most maxWaitMs until admitted. */
  action: Type.Union([Type.Object({ type: Type.Literal('Reject') }), Type.Object({ type: Type.Literal('Wait'), maxWaitMs: Millis })]),
  /** Only requests for which every condition holds count. */
  when: LevelWhenIR,
  /** Levels with a Tenant key part only; the first override naming a tenant applies, before any plan. */
  tenantOverrides: Type.Array(TenantOverrideIR),
  /** The verified claim naming the caller's plan; present exactly when plans is not empty. */
  planClaim: Type.Optional(Name),
  /** Rates by plan, sorted by name, unique: a caller whose plan claim names one gets its rate. */
  plans: Type.Array(Type.Object({ name: Name, ...rateFields, burst: Type.Optional(Positive) })),
  /** The mode of the policy this level comes from: Shadow levels count but never reject. */
  mode: literals(['Enforce', 'Shadow'] as const),
  /** The policy this level comes from. */
  source: PolicyRef,
});

export const HotspotIR = Type.Object({
  /** Attributes watched for heavy hitters; `name` for Header and Query. */
  parameters: Type.Array(
    Type.Object({
      source: literals(['Tenant', 'User', 'ClientIP', 'Model', 'Header', 'Query', 'PromptHash'] as const),
      name: Type.Optional(Name),
    }),
    { minItems: 1 },
  ),
  windowMs: Millis,
  topK: Positive,
  minRequests: Positive,
  activateSharePercent: Type.Integer({ minimum: 1, maximum: 100 }),
  /** Lower than activateSharePercent. */
  deactivateSharePercent: Type.Integer({ minimum: 0, maximum: 100 }),
  cooldownMs: Millis,
  /** The stricter limit for each hot value. */
  limit: Type.Object({ algorithm: RateLimitAlgorithmIR, ...rateFields, burst: Type.Optional(Positive) }),
  routeSurge: Type.Optional(
    Type.Object({ multiplierPercent: Type.Integer({ minimum: 110 }), baselineWindowMs: Millis, comparePeers: Type.Boolean() }),
  ),
  /** The mode of the policy the hotspot settings come from: Shadow only reports hot values. */
  mode: literals(['Enforce', 'Shadow'] as const),
  /** The policy the hotspot settings come from. */
  source: PolicyRef,
});

export const RateLimitIR = Type.Object({
  /** All levels are checked at once (one store round trip), sorted by name. */
  levels: Type.Array(RateLimitLevelIR, { minItems: 1 }),
  /** Store and failure mode of the most specific contributing policy. */
  store: literals(['Redis', 'Memory'] as const),
  failureMode: Type.Object({
    mode: literals(['Open', 'Closed', 'Local'] as const),
    timeoutMs: Millis,
    /** Local mode divides every limit by this. */
    expectedReplicas: Positive,
  }),
  /** From the most specific contributing policy that has one. */
  hotspot: Type.Optional(HotspotIR),
  /** Every contributing policy, sorted. */
  policies: Type.Array(PolicyRef, { minItems: 1 }),
});
