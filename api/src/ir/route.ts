/**
 * One route of a gateway: one rule of an HTTPRoute, as the gateway's matcher and policy chain
 * need it. Compiled policies hang off the route; backends are referenced by their BackendIR id.
 */
import { Type } from '@sinclair/typebox';
import { Count, Name, literals } from './common.js';
import { CacheIR } from './cache.js';
import { DegradationIR } from './degradation.js';
import { QueueIR } from './queue.js';
import { RateLimitIR } from './ratelimit.js';

/** How a path is compared. */
export const PathMatchIR = Type.Object({
  /**
   * Exact: the whole path. PathPrefix: by path segment (`/api` matches `/api` and `/api/x`, not
   * `/apix`; a trailing `/` of value is ignored). RegularExpression: an RE2 pattern (Envoy's
   * dialect; see regex.ts for the engine and the bound on its size) that must match the whole path,
   * in time linear in the path's length.
   */
  type: literals(['Exact', 'PathPrefix', 'RegularExpression'] as const),
  value: Type.String({ minLength: 1 }),
});

/** A header or query parameter condition. */
export const ValueMatchIR = Type.Object({
  /** Header names are lower case (they compare case-insensitively); query names compare exactly. */
  name: Name,
  /** Exact: the value as is. RegularExpression: an RE2 pattern (see regex.ts) that must match the whole value. */
  type: literals(['Exact', 'RegularExpression'] as const),
  value: Type.String(),
});

/** One HTTPRoute match: every present condition must hold. */
export const MatchIR = Type.Object({
  path: PathMatchIR,
  /** Upper case; absent: every method matches. */
  method: Type.Optional(Type.String({ minLength: 1 })),
  /** Sorted by name. */
  headers: Type.Array(ValueMatchIR),
  /** Sorted by name. */
  queryParams: Type.Array(ValueMatchIR),
});

/** A backend of the route with its share of the traffic. */
export const WeightedBackendIR = Type.Object({
  /** Id of a BackendIR of the same config. */
  backend: Name,
  /** Relative weight; 0 sends nothing to it. */
  weight: Count,
});

export const RouteIR = Type.Object({
  /** `<namespace>/<route>/<rule name or rule-<index>>`; unique within a gateway. */
  id: Name,
  /** The HTTPRoute this rule comes from. */
  route: Type.Object({ namespace: Name, name: Name }),
  /** Index of the rule in the HTTPRoute's spec.rules. */
  ruleIndex: Count,
  /** Names of the gateway listeners the route is attached to (sorted, at least one). */
  listeners: Type.Array(Name, { minItems: 1 }),
  /**
   * Hostnames the route serves: the route's hostnames intersected with its listeners'. Empty: every
   * host. A request is matched first by host (exact, then the longest wildcard, then routes with
   * no hostnames), then by the gateway's matchOrder.
   */
  hostnames: Type.Array(Name),
  /** At least one; a rule without matches gets `PathPrefix /`. */
  matches: Type.Array(MatchIR, { minItems: 1 }),
  /** Sorted by backend id. Empty (with unresolvedWeight 0): the gateway answers 500. */
  backends: Type.Array(WeightedBackendIR),
  /**
   * Summed weight of backendRefs that did not resolve. Gateway API: that share of requests is
   * answered with 500 instead of being sent elsewhere.
   */
  unresolvedWeight: Count,
  /** Merged rate limits (gateway defaults, service, route and rule policies). */
  rateLimit: Type.Optional(RateLimitIR),
  /** Concurrency bound and queue. */
  queue: Type.Optional(QueueIR),
  /** Fallback chain, triggers and feature toggles. When a chain is present it replaces `backends` as the order of attempts. */
  degradation: Type.Optional(DegradationIR),
  /** Response cache. */
  cache: Type.Optional(CacheIR),
});

/** One entry of a gateway's match table: the match `match` of route `route`. */
export const MatchRefIR = Type.Object({
  /** A RouteIR id of the same gateway. */
  route: Name,
  /** Index into that route's matches. */
  match: Count,
});
