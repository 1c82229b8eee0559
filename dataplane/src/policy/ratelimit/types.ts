/**
 * Types of the rate-limit stage: what the request pipeline passes in, what it gets back, and the
 * small store contract that the memory and Redis stores implement (one call per request, every
 * level at once, all or nothing).
 */

/** Built per request by the pipeline. */
export interface LimitRequest {
  routeId: string;
  /** Services the request may go to; a Service-scoped level counts the request once per id. */
  serviceIds: readonly string[];
  clientIp: string;
  user?: string;
  tenant?: string;
  method: string;
  header(name: string): string | undefined;
  claim(name: string): string | undefined;
  /** Hot parameter values flagged by the hotspot stage, e.g. { parameter: 'Tenant', value: 'acme' } or { parameter: 'Header:x-foo', value } */
  hot: readonly { parameter: string; value: string }[];
  /** Token estimates of an OpenAI-compatible body, on routes that inspect bodies (cost LlmTokens). */
  llmTokens?: { readonly input: number; readonly output: number };
}

/** One level's outcome, for the RateLimit headers, the problem body and metrics. */
export interface LevelResult {
  name: string;
  /** `namespace/name` of the policy the level comes from. */
  policy: string;
  /** The level's limit (the Local-mode share while Redis is out) per `periodMs`. */
  limit: number;
  periodMs: number;
  remaining: number;
  /** Seconds until the quota is back: in full when the level allowed, enough for this request when it rejected. */
  resetSec: number;
  /** What the level decided; a shadow level reports `false` without rejecting the request. */
  allowed: boolean;
  shadow: boolean;
}

export interface LimitDecision {
  allowed: boolean;
  /** set when action Wait admits after a delay */
  waitMs?: number;
  retryAfterSec?: number;
  levels: LevelResult[];
  /** the failure mode in effect if the store failed */
  degraded?: 'open' | 'closed' | 'local';
}

/**
 * Where a route's counters live right now: its configured store (`memory`, `redis`) or, while
 * Redis is missing, failing or slow, the policy's failure mode.
 */
export type ActiveMode = 'memory' | 'redis' | 'open' | 'closed' | 'local';

export interface RouteLimiter {
  /** Synchronous when the counters are in memory; a promise when the check goes to Redis. */
  check(req: LimitRequest): LimitDecision | Promise<LimitDecision>;
  /** The mode the last check ran in (for the failure-mode metric). */
  mode(): ActiveMode;
}

/** Algorithm codes, shared by the memory store and the Lua script (also part of every key). */
export const ALG = { TokenBucket: 1, GCRA: 2, SlidingWindow: 3, SlidingLog: 4, FixedWindow: 5 } as const;
export type AlgCode = (typeof ALG)[keyof typeof ALG];

/** One counter to check and charge: a level for one scope value. */
export interface LimitOp {
  /** Store key without the store's own prefix (see keys.ts). */
  readonly key: string;
  readonly alg: AlgCode;
  readonly limit: number;
  readonly periodMs: number;
  /** TokenBucket: capacity; GCRA: tolerance in requests. Others ignore it. */
  readonly burst: number;
  /** Units this request takes (≥ 1). */
  readonly cost: number;
  /** Counted when the request is admitted and the op itself allows; never rejects. */
  readonly shadow: boolean;
  /** GCRA only: admit after a delay of at most this many ms instead of rejecting; -1 rejects. */
  readonly maxWaitMs: number;
  /**
   * Optional: an object that is the same for every op with the same alg, limit, periodMs, burst,
   * shadow and maxWaitMs (the limiter passes the level, or its tenant override). The Redis store
   * then sends those six numbers once per round trip instead of once per op.
   */
  readonly spec?: object;
}

/**
 * Times a store reports (reset, retry, wait) are rounded up to whole microseconds, by both stores
 * in the same double arithmetic, so that they agree bit for bit: the Redis script prints integers
 * (lua.ts), which costs Redis a third of printing exact doubles. Rounding up never reports a
 * quota back earlier than it is. Times past 2^53 µs (285 years; a huge burst at a tiny rate) are
 * capped there, where integers stop being exact.
 */
export function toMicros(ms: number): number {
  return Math.min(Math.ceil(ms * 1000), Number.MAX_SAFE_INTEGER) / 1000;
}

export interface OpOutcome {
  allowed: boolean;
  /** Whole units left after this request (before it, when the request was not admitted). */
  remaining: number;
  /** Ms until the counter is back to its full quota (whole µs, see `toMicros`). */
  resetMs: number;
  /** When the op rejected: ms until it would admit this request (whole µs); -1 never (cost above capacity). */
  retryMs: number;
}

export interface StoreResult {
  /** Every non-shadow op allowed: all ops were charged. Otherwise nothing was charged. */
  allowed: boolean;
  /** The largest GCRA delay among the admitted ops (ms, whole µs); 0 for none. */
  waitMs: number;
  /** One per op, in order. */
  outcomes: OpOutcome[];
}

/** A counter store: evaluates all ops of one request at once, all or nothing. */
export interface LimitStore {
  readonly kind: 'memory' | 'redis';
  /** Rejects when the store is unreachable or slower than `timeoutMs`. */
  check(ops: readonly LimitOp[], timeoutMs?: number): Promise<StoreResult>;
  /** False while the store is known to be unreachable (a check would fail at once). */
  ready(): boolean;
}

/** A store in this process: checks need no I/O, so they are synchronous. */
export interface LocalLimitStore extends LimitStore {
  /** The same as `check`, synchronously. */
  checkSync(ops: readonly LimitOp[]): StoreResult;
}

/** redis undefined when no Redis is configured → failure mode applies */
export interface LimitStores {
  memory: LocalLimitStore;
  redis?: LimitStore;
}
