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
  /** The normalized path, without the query (when.path, Path key parts). */
  path: string;
  header(name: string): string | undefined;
  claim(name: string): string | undefined;
  /** A query parameter's first value (when.queryParams, QueryParam key parts). */
  queryParam(name: string): string | undefined;
  /** The model of an OpenAI-compatible body, on routes that read bodies (Model key parts, when.model). */
  llmModel?: string | undefined;
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
  /**
   * Set when a level with onMissingKey Reject refused the request because it has no value for a
   * key part (nothing was counted anywhere): the gateway answers 403.
   */
  missingKey?: { readonly level: string; readonly policy: string; readonly part: string };
  /**
   * Set when the request was admitted and some level charged it LLM tokens (cost LlmTokens): the
   * estimate it reserved, to be settled with `RouteLimiter.settle` once the answer's `usage` is
   * known (or known to be missing).
   */
  reservation?: Reservation;
}

/** The LLM tokens a request reserved at admission, per charged counter (see limiter.ts settle). */
export interface Reservation {
  /** Where the counters were charged: the route's memory store, Redis, or the Local failure mode's memory counters. */
  readonly store: 'memory' | 'redis' | 'local';
  /** The limiter's clock when the request was admitted. */
  readonly at: number;
  /** The prompt estimate the request reserved (its Input part). */
  readonly input: number;
  /** The charged ops of LlmTokens levels (cost: what each reserved), and which tokens each counts. */
  readonly items: readonly { readonly op: LimitOp; readonly tokens: 'Input' | 'Output' | 'Total' }[];
}

/** Token counts an LLM answer reports in its `usage`. */
export interface LlmUsage {
  readonly input: number;
  readonly output: number;
  readonly total: number;
}

/**
 * What settling a reservation did: tokens charged on top of it and refunded from it (summed over
 * counters). `failed`: the store did not take the correction (Redis out or slow); the reservation stands.
 */
export interface Settlement {
  readonly outcome: 'reconciled' | 'missing' | 'unanswered' | 'failed';
  readonly charged: number;
  readonly refunded: number;
}

/**
 * Where a route's counters live right now: its configured store (`memory`, `redis`) or, while
 * Redis is missing, failing or slow, the policy's failure mode.
 */
export type ActiveMode = 'memory' | 'redis' | 'open' | 'closed' | 'local';

/**
 * Where a decision that waited for Redis goes (RouteLimiter.checkInto): `decided` with the
 * decision (a Redis failure is decided by the failure mode), or `failed` when deciding threw.
 * One of the two, once, never before checkInto has returned.
 */
export interface DecisionSink<R extends LimitRequest> {
  decided(req: R, decision: LimitDecision): void;
  failed(req: R, err: unknown): void;
}

export interface RouteLimiter {
  /** Synchronous when the counters are in memory; a promise when the check goes to Redis. */
  check(req: LimitRequest): LimitDecision | Promise<LimitDecision>;
  /**
   * The same without a promise: the decision when it is known at once; undefined when the check
   * went to Redis, and then the decision goes to `sink` (no promise and no closure per request).
   */
  checkInto<R extends LimitRequest>(req: R, sink: DecisionSink<R>): LimitDecision | undefined;
  /** The mode the last check ran in (for the failure-mode metric). */
  mode(): ActiveMode;
  /**
   * Settles a reservation: with the answer's usage, charges or refunds each counter the
   * difference; 'missing' (an answer without usage) keeps it; 'unanswered' (no upstream answer)
   * refunds the output part of it. One store call for every counter.
   */
  settle(reservation: Reservation, usage: LlmUsage | 'missing' | 'unanswered'): Settlement;
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

/**
 * A correction of what a counter was charged: `delta` units more (> 0) or fewer (< 0), applied
 * whatever the counter's state (it never rejects). A refund never takes a counter below empty
 * or beyond its full quota; see algorithms.ts `adjust` for what each algorithm does.
 */
export interface LimitAdjust {
  readonly op: LimitOp;
  readonly delta: number;
  /** Ms since the charge being corrected (a window refunds only the window it was charged in). */
  readonly sinceMs: number;
}

/** Where a store's check goes (LimitStore.submit): one of the two calls, once, never before submit has returned. */
export interface StoreSink {
  stored(result: StoreResult): void;
  failed(err: Error): void;
}

/** A counter store: evaluates all ops of one request at once, all or nothing. */
export interface LimitStore {
  readonly kind: 'memory' | 'redis';
  /** Rejects when the store is unreachable or slower than `timeoutMs`. */
  check(ops: readonly LimitOp[], timeoutMs?: number): Promise<StoreResult>;
  /** The same as `check`, the outcome handed to `sink` instead of a promise (a store may lack it). */
  submit?(ops: readonly LimitOp[], timeoutMs: number | undefined, sink: StoreSink): void;
  /** Applies corrections to counters, all in one call (on Redis one more check in a batch). */
  adjust(adjusts: readonly LimitAdjust[], timeoutMs?: number): Promise<void>;
  /** False while the store is known to be unreachable (a check would fail at once). */
  ready(): boolean;
}

/** A store in this process: checks need no I/O, so they are synchronous. */
export interface LocalLimitStore extends LimitStore {
  /** The same as `check`, synchronously. */
  checkSync(ops: readonly LimitOp[]): StoreResult;
  /** The same as `adjust`, synchronously. */
  adjustSync(adjusts: readonly LimitAdjust[]): void;
}

/** redis undefined when no Redis is configured → failure mode applies */
export interface LimitStores {
  memory: LocalLimitStore;
  redis?: LimitStore;
}
