/** Compiled RateLimitPolicy levels of a route (seed §2, §6). */
import { Type } from '@sinclair/typebox';
import { Millis, Name, PolicyRef, Positive, literals } from './common.js';

export const RateLimitScopeIR = literals(['Global', 'Route', 'Service', 'ClientIP', 'User', 'Tenant', 'Header', 'Claim'] as const);
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
  /** LLM tokens of an OpenAI-compatible call. */
  Type.Object({ type: Type.Literal('LlmTokens'), tokens: literals(['Input', 'Output', 'Total'] as const) }),
]);

export const RateLimitLevelIR = Type.Object({
  /** Level name; unique in the route's levels. */
  name: Name,
  /**
   * Counter identity: `<policy namespace>/<policy name>/<level name>`. Every route that inherits
   * the same level shares these counters; scope Route adds the route id to the key.
   */
  counter: Name,
  scope: RateLimitScopeIR,
  /** Header scope: the header (lower case) whose value is the key. */
  header: Type.Optional(Name),
  /** Claim scope: the JWT claim (dotted path) whose value is the key. */
  claim: Type.Optional(Name),
  algorithm: RateLimitAlgorithmIR,
  ...rateFields,
  /** TokenBucket and GCRA only: capacity / tolerance, defaulted to `limit`. */
  burst: Type.Optional(Positive),
  cost: CostIR,
  /** Reject: 429. Wait: hold the request for at most maxWaitMs until admitted. */
  action: Type.Union([Type.Object({ type: Type.Literal('Reject') }), Type.Object({ type: Type.Literal('Wait'), maxWaitMs: Millis })]),
  /** Only requests with one of these methods count (upper case, sorted); empty: all. */
  methods: Type.Array(Name),
  /** Only requests with all of these headers (name lower case, exact value) count. */
  headers: Type.Array(Type.Object({ name: Name, value: Type.String() })),
  /** Tenant scope only; the first override naming a tenant applies. */
  tenantOverrides: Type.Array(TenantOverrideIR),
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
