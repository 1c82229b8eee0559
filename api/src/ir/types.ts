/**
 * The IR: the only contract between the operator (or the standalone gateway's file loader) and
 * the gateway's request path. Plain typed data, no Kubernetes types, no wire types. Durations are
 * milliseconds, defaults are applied, lists are sorted so that equal configs serialize equally.
 *
 * One config holds every Gateway of our GatewayClass and every backend their routes use. It is
 * delivered as one `GatewayIR` resource per Gateway and one `BackendIR` resource per backend.
 *
 * Each shape is a TypeBox schema (for `validateIR` of untrusted JSON, see validate.ts) and a type
 * of the same name (deeply read-only). Unknown properties are allowed, so that an older gateway
 * accepts a config with fields added later; incompatible changes bump IR_VERSION.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { PolicyKind } from '../schema/kinds.js';
import { CacheIR as CacheIRSchema } from './cache.js';
import { CircuitBreakerIR as CircuitBreakerIRSchema } from './circuitbreaker.js';
import { Name, Port, PolicyRef as PolicyRefSchema, type Immutable } from './common.js';
import { DegradationIR as DegradationIRSchema } from './degradation.js';
import { ApiKeyIR as ApiKeyIRSchema, IdentityIR as IdentityIRSchema, JwtProviderIR as JwtProviderIRSchema } from './identity.js';
import { QueueIR as QueueIRSchema } from './queue.js';
import { RateLimitIR as RateLimitIRSchema, RateLimitLevelIR as RateLimitLevelIRSchema } from './ratelimit.js';
import { MatchIR as MatchIRSchema, MatchRefIR as MatchRefIRSchema, RouteIR as RouteIRSchema } from './route.js';

/** Schema version of the IR; bumped on incompatible changes. */
export const IR_VERSION = 2;

export const PolicyRef = PolicyRefSchema;
/** A policy whose (compiled) content is part of a config, at the generation that was compiled. */
export type PolicyRef = Immutable<Static<typeof PolicyRefSchema>>;

export const ListenerIR = Type.Object({
  /** Listener name, unique in the gateway. */
  name: Name,
  port: Port,
  /** Only HTTP listeners are programmed. */
  protocol: Type.Literal('HTTP'),
  /** Empty: every host. A wildcard `*.example.com` matches one or more labels. */
  hostnames: Type.Array(Name),
});
export type ListenerIR = Immutable<Static<typeof ListenerIR>>;

export const EndpointIR = Type.Object({
  /** IP address (or, for FQDN EndpointSlices, a host name). */
  address: Name,
  /** The port on the endpoint (the Service's targetPort as the EndpointSlice resolved it). */
  port: Port,
  /** EndpointSlice conditions; the gateway sends traffic only to ready endpoints. */
  ready: Type.Boolean(),
  /** Serving but not ready: terminating endpoints may still serve when no endpoint is ready. */
  serving: Type.Boolean(),
  terminating: Type.Boolean(),
});
export type EndpointIR = Immutable<Static<typeof EndpointIR>>;

export const BackendIR = Type.Object({
  /** `<namespace>/<service>:<port>`. */
  id: Name,
  /** The Service and the Service port (not the target port). */
  service: Type.Object({ namespace: Name, name: Name, port: Port }),
  /** Sorted by address, then port; unique. */
  endpoints: Type.Array(EndpointIR),
  /** Breaker, outlier detection and health checks of this backend. */
  circuitBreaker: Type.Optional(CircuitBreakerIRSchema),
  /** Every policy compiled into this backend, sorted; for the Enforced condition. */
  policies: Type.Array(PolicyRefSchema),
});
export type BackendIR = Immutable<Static<typeof BackendIR>>;

export const RouteIR = RouteIRSchema;
/** A route: one rule of an HTTPRoute attached to a gateway, with its compiled policies. */
export type RouteIR = Immutable<Static<typeof RouteIRSchema>>;
export const MatchIR = MatchIRSchema;
export type MatchIR = Immutable<Static<typeof MatchIRSchema>>;
export const MatchRefIR = MatchRefIRSchema;
export type MatchRefIR = Immutable<Static<typeof MatchRefIRSchema>>;
export const RateLimitIR = RateLimitIRSchema;
export type RateLimitIR = Immutable<Static<typeof RateLimitIRSchema>>;
export const RateLimitLevelIR = RateLimitLevelIRSchema;
export type RateLimitLevelIR = Immutable<Static<typeof RateLimitLevelIRSchema>>;
export const QueueIR = QueueIRSchema;
export type QueueIR = Immutable<Static<typeof QueueIRSchema>>;
export const DegradationIR = DegradationIRSchema;
export type DegradationIR = Immutable<Static<typeof DegradationIRSchema>>;
export const CacheIR = CacheIRSchema;
export type CacheIR = Immutable<Static<typeof CacheIRSchema>>;
export const CircuitBreakerIR = CircuitBreakerIRSchema;
export type CircuitBreakerIR = Immutable<Static<typeof CircuitBreakerIRSchema>>;
/** The sections of a CircuitBreakerIR. */
export type BreakerIR = NonNullable<CircuitBreakerIR['breaker']>;
export type OutlierDetectionIR = NonNullable<CircuitBreakerIR['outlierDetection']>;
export type ActiveHealthCheckIR = NonNullable<CircuitBreakerIR['activeHealthCheck']>;
export type RetryIR = NonNullable<CircuitBreakerIR['retry']>;

export const IdentityIR = IdentityIRSchema;
/** Who is calling: JWT issuers, API keys (digests only), trusted proxies (identity.ts). */
export type IdentityIR = Immutable<Static<typeof IdentityIRSchema>>;
export const JwtProviderIR = JwtProviderIRSchema;
export type JwtProviderIR = Immutable<Static<typeof JwtProviderIRSchema>>;
export const ApiKeyIR = ApiKeyIRSchema;
export type ApiKeyIR = Immutable<Static<typeof ApiKeyIRSchema>>;

export const GatewayIR = Type.Object({
  /** `<namespace>/<name>` of the Gateway; gateways of this group subscribe to it by this name. */
  id: Name,
  /** Sorted by name. */
  listeners: Type.Array(ListenerIR),
  /**
   * Ordered by the precedence of each route's best match (see matchOrder); ids unique.
   */
  routes: Type.Array(RouteIRSchema),
  /**
   * Every match of every route, in Gateway API precedence order: exact path, then regular
   * expression (longer first), then path prefix (longer first); then a method; then more header
   * matches; then more query matches; ties go to the older HTTPRoute, then `namespace/name`
   * order, then rule and match order. Among the routes that accept the request's host, the first
   * entry whose match fits wins.
   */
  matchOrder: Type.Array(MatchRefIRSchema),
  /** Every policy compiled into this gateway (its routes and its identity), sorted; for the Enforced condition. */
  policies: Type.Array(PolicyRefSchema),
  /**
   * Who is calling, from the Gateway's ClientIdentityPolicy. Absent: the gateway uses its own
   * `--identity` file, or none.
   */
  identity: Type.Optional(IdentityIRSchema),
});
export type GatewayIR = Immutable<Static<typeof GatewayIR>>;

export const IR = Type.Object({
  /** Sorted by id. */
  gateways: Type.Array(GatewayIR),
  /** Sorted by id; every backend some route of some gateway uses (routes or fallback chains). */
  backends: Type.Array(BackendIR),
});
export type IR = Immutable<Static<typeof IR>>;

/** Compile-time check: the IR's policy kinds are exactly the API's. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _kindsMatch: Same<PolicyRef['kind'], PolicyKind> = true;
void _kindsMatch;
