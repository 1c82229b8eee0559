/**
 * Redis counter store: one EVALSHA per request for any number of levels (lua.ts), all or
 * nothing, on Redis server time. The caller creates the ioredis client with
 * `enableOfflineQueue: false` (a command while disconnected fails at once instead of queueing);
 * this store times every check out itself (`timeoutMs`, or the policy's failure-mode timeout when
 * shorter), so no check waits longer than that whatever the client does.
 */
import type { Redis } from 'ioredis';
import { systemClock, systemTimers, type Clock, type Timers } from '../../clock.js';
import { LIMIT_SCRIPT, LIMIT_SCRIPT_SHA } from './lua.js';
import type { LimitOp, LimitStore, OpOutcome, StoreResult } from './types.js';

/** Round trips and failures of a Redis store (the benchmark reports round trips per request). */
export interface RedisStoreStats {
  /** Commands sent: one EVALSHA per check, plus one EVAL after a NOSCRIPT reply. */
  roundTrips: number;
  /** NOSCRIPT replies (script cache flushed or a new server): each cost one more round trip. */
  scriptReloads: number;
  /** Checks that failed (error reply, disconnected client) or timed out. */
  errors: number;
  timeouts: number;
}

export interface RedisLimitStore extends LimitStore {
  readonly kind: 'redis';
  readonly stats: Readonly<RedisStoreStats>;
}

const totals: RedisStoreStats = { roundTrips: 0, scriptReloads: 0, errors: 0, timeouts: 0 };

/** Round trips of every Redis store of this process (for the benchmark's calls-per-request). */
export function redisRoundTrips(): number {
  return totals.roundTrips;
}

/** A copy of the process-wide Redis store counters. */
export function redisStoreTotals(): RedisStoreStats {
  return { ...totals };
}

export class LimitStoreTimeoutError extends Error {
  constructor(ms: number) {
    super(`rate-limit store did not answer within ${ms} ms`);
    this.name = 'LimitStoreTimeoutError';
  }
}

export interface RedisStoreOptions {
  redis: Redis;
  /** Prepended to every key, e.g. 'jarvis:rl:'; must not contain '{' or '}' (the hash tag follows). */
  prefix: string;
  /** Upper bound of any check's wait; a check's own timeout (the policy's) may be shorter. */
  timeoutMs?: number;
  timers?: Timers;
  /** Clock for `onRoundTrip`. */
  clock?: Clock;
  /** Each completed or failed round trip's duration in ms (a latency histogram). */
  onRoundTrip?: (ms: number, outcome: 'ok' | 'error' | 'timeout') => void;
  /**
   * Tests only: pass this time (ms) to the script instead of reading Redis TIME, so a contract
   * test can drive a Redis counter with the same manual clock as the memory store.
   */
  testNow?: () => number;
}

export function createRedisStore(opts: RedisStoreOptions): RedisLimitStore {
  return new RedisStore(opts);
}

class RedisStore implements RedisLimitStore {
  readonly kind = 'redis' as const;
  readonly stats: RedisStoreStats = { roundTrips: 0, scriptReloads: 0, errors: 0, timeouts: 0 };
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #timers: Timers;
  readonly #testNow: (() => number) | undefined;
  readonly #clock: Clock;
  readonly #onRoundTrip: RedisStoreOptions['onRoundTrip'];

  constructor(opts: RedisStoreOptions) {
    if (/[{}]/.test(opts.prefix)) throw new Error(`Redis key prefix must not contain '{' or '}': ${opts.prefix}`);
    this.#redis = opts.redis;
    this.#prefix = opts.prefix;
    this.#timeoutMs = opts.timeoutMs ?? Infinity;
    this.#timers = opts.timers ?? systemTimers;
    this.#testNow = opts.testNow;
    this.#clock = opts.clock ?? systemClock;
    this.#onRoundTrip = opts.onRoundTrip;
  }

  ready(): boolean {
    return this.#redis.status === 'ready';
  }

  check(ops: readonly LimitOp[], timeoutMs?: number): Promise<StoreResult> {
    const n = ops.length;
    // KEYS, then ARGV: the time ('' = Redis TIME) and one string per op (see lua.ts).
    const args: string[] = new Array<string>(2 * n + 1);
    args[n] = this.#testNow ? String(this.#testNow()) : '';
    for (let i = 0; i < n; i++) {
      const op = ops[i] as LimitOp;
      args[i] = this.#prefix + op.key;
      args[n + 1 + i] = `${op.alg} ${op.limit} ${op.periodMs} ${op.burst} ${op.cost} ${op.shadow ? 1 : 0} ${op.maxWaitMs}`;
    }
    const limit = timeoutMs !== undefined && timeoutMs > 0 ? Math.min(timeoutMs, this.#timeoutMs) : this.#timeoutMs;
    const started = this.#onRoundTrip ? this.#clock.now() : 0;
    return this.#withTimeout(this.#run(n, args), limit).then(
      (reply) => {
        this.#onRoundTrip?.(this.#clock.now() - started, 'ok');
        return parseReply(reply, n);
      },
      (err: unknown) => {
        const timedOut = err instanceof LimitStoreTimeoutError;
        if (timedOut) {
          this.stats.timeouts++;
          totals.timeouts++;
        } else {
          this.stats.errors++;
          totals.errors++;
        }
        this.#onRoundTrip?.(this.#clock.now() - started, timedOut ? 'timeout' : 'error');
        throw err;
      },
    );
  }

  async #run(n: number, args: string[]): Promise<unknown> {
    this.#count();
    try {
      return await this.#redis.evalsha(LIMIT_SCRIPT_SHA, n, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      // The server lost its script cache (restart, SCRIPT FLUSH, failover): EVAL runs the script
      // and caches it again, so the next check is one EVALSHA again.
      this.stats.scriptReloads++;
      totals.scriptReloads++;
      this.#count();
      return await this.#redis.eval(LIMIT_SCRIPT, n, ...args);
    }
  }

  #count(): void {
    this.stats.roundTrips++;
    totals.roundTrips++;
  }

  #withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
    if (!Number.isFinite(ms)) return p;
    return new Promise<T>((resolve, reject) => {
      const timer = this.#timers.after(ms, () => reject(new LimitStoreTimeoutError(ms)));
      p.then(
        (v) => {
          timer.cancel();
          resolve(v);
        },
        (e: unknown) => {
          timer.cancel();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }
}

function num(s: string | undefined): number {
  const x = s === undefined || s === '' ? NaN : Number(s);
  if (Number.isNaN(x)) throw new Error(`unexpected rate-limit script reply element: ${String(s)}`);
  return x;
}

/** The script's reply: one string of 2 + 4n numbers (see lua.ts). */
function parseReply(reply: unknown, n: number): StoreResult {
  const text = Buffer.isBuffer(reply) ? reply.toString('latin1') : reply;
  if (typeof text !== 'string') throw new Error('unexpected rate-limit script reply');
  const r = text.split(' ');
  if (r.length !== 2 + 4 * n) throw new Error(`unexpected rate-limit script reply: ${r.length} numbers for ${n} ops`);
  const outcomes = new Array<OpOutcome>(n);
  for (let i = 0; i < n; i++) {
    const k = 2 + 4 * i;
    outcomes[i] = { allowed: num(r[k]) === 1, remaining: num(r[k + 1]), resetMs: num(r[k + 2]), retryMs: num(r[k + 3]) };
  }
  return { allowed: num(r[0]) === 1, waitMs: num(r[1]), outcomes };
}
