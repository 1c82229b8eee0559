/**
 * Redis counter store: all levels of a request in one round trip (lua.ts), all or nothing, on
 * Redis server time. Checks started in the same event-loop turn share that round trip: they are
 * collected until the turn ends (setImmediate) and sent as one EVALSHA, which decides them one
 * after the other as if each had been sent alone at the same instant. Under load this divides
 * the script's fixed cost (and the client's per-command work) among the requests of a turn; at
 * low rates a batch is one request. `maxBatch: 1` sends one EVALSHA per check.
 *
 * The caller creates the ioredis client with `enableOfflineQueue: false` (a command while
 * disconnected fails at once instead of queueing); this store times every check out itself
 * (`timeoutMs`, or the policy's failure-mode timeout when shorter), counted from the moment the
 * check was started, so no check waits longer than that whatever the client does.
 */
import type { Redis } from 'ioredis';
import { monotonicClock, systemClock, systemTimers, type Clock, type TimerHandle, type Timers } from '../../clock.js';
import { LIMIT_SCRIPT, LIMIT_SCRIPT_SHA } from './lua.js';
import type { LimitAdjust, LimitOp, LimitStore, OpOutcome, StoreResult, StoreSink } from './types.js';

/** Round trips and failures of a Redis store (the benchmark reports round trips per request). */
export interface RedisStoreStats {
  /** Commands sent: one EVALSHA per batch of checks, plus one EVAL after a NOSCRIPT reply. */
  roundTrips: number;
  /** Checks sent to Redis (rate-limited requests). */
  checks: number;
  /** Round trips each check waited for, summed over checks: one each, two after a NOSCRIPT. */
  checkRoundTrips: number;
  /**
   * NOSCRIPT replies before this store's script ran once: the normal first contact with a server
   * (the script is loaded by the EVAL that follows). Each costs one more round trip; not an error.
   */
  scriptLoads: number;
  /**
   * NOSCRIPT replies after the script had run: the server lost its script cache (restart, SCRIPT
   * FLUSH, failover to a new server). Each costs one more round trip; counted as an error.
   */
  scriptReloads: number;
  /** Round trips that failed (error reply, disconnected client), and checks too large to send. */
  errors: number;
  /** Round trips that some check gave up waiting for. */
  timeouts: number;
  /** Checks refused without a round trip, because too many round trips were unanswered. */
  shed: number;
}

export interface RedisLimitStore extends LimitStore {
  readonly kind: 'redis';
  readonly stats: Readonly<RedisStoreStats>;
}

const zeroStats = (): RedisStoreStats => ({
  roundTrips: 0,
  checks: 0,
  checkRoundTrips: 0,
  scriptLoads: 0,
  scriptReloads: 0,
  errors: 0,
  timeouts: 0,
  shed: 0,
});
const totals = zeroStats();

/** Round trips of every Redis store of this process (for the benchmark's calls-per-request). */
export function redisRoundTrips(): number {
  return totals.roundTrips;
}

/** A copy of the process-wide Redis store counters. */
export function redisStoreTotals(): RedisStoreStats {
  return { ...totals };
}

/**
 * The most ops one EVALSHA carries. The script's reply is one string.format over 2 numbers per
 * request and 4 per op, passed through Lua's unpack, which stops near 8,000 values; 1,000 ops
 * (and so at most 1,000 requests) stay well below. A single check with more ops goes alone.
 */
export const MAX_BATCH_OPS = 1000;

/**
 * The most ops one check may have: alone in its round trip, its reply of 2 + 4 × 1,900 numbers
 * stays below unpack's limit. A larger check is refused (LimitStoreTooLargeError) before anything
 * is sent, and its policy's failure mode applies; a route would need over a hundred policies of
 * 16 levels each to get there.
 */
export const MAX_CHECK_OPS = 1900;

/** Refused at once: one check has more ops than one round trip can carry (MAX_CHECK_OPS). */
export class LimitStoreTooLargeError extends Error {
  constructor(ops: number) {
    super(`rate-limit check has ${ops} counters; one Redis round trip carries at most ${MAX_CHECK_OPS}`);
    this.name = 'LimitStoreTooLargeError';
  }
}

/** Refused at once: too many round trips to Redis are unanswered (a stalled server or link). */
export class LimitStoreOverloadError extends Error {
  constructor(outstanding: number) {
    super(`rate-limit store has ${outstanding} round trips unanswered`);
    this.name = 'LimitStoreOverloadError';
  }
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
  /** The most checks one round trip carries (default 256; 1: one EVALSHA per check). */
  maxBatch?: number;
  /**
   * The most round trips sent and not yet answered (default 64). While Redis or the link stalls,
   * every check still times out on its own, but its command stays queued in the client until the
   * connection fails; past this bound new checks are refused at once (the failure mode applies)
   * instead of queueing more.
   */
  maxOutstanding?: number;
  timers?: Timers;
  /** Clock for the timeouts. */
  clock?: Clock;
  /** Measures `onRoundTrip` durations; default the monotonic, sub-millisecond clock. */
  stopwatch?: Clock;
  /**
   * Each round trip's duration in ms (a latency histogram): when the reply arrives, or when the
   * first of its checks gives up ('timeout').
   */
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

/** One check waiting for its batch's reply. */
interface Waiter {
  readonly ops: number;
  readonly deadline: number;
  readonly limitMs: number;
  readonly sink: StoreSink;
  done: boolean;
}

/** A promise's ends as a sink (for `check` and `adjust`). */
function promiseSink(): { sink: StoreSink; promise: Promise<StoreResult> } {
  let sink!: StoreSink;
  const promise = new Promise<StoreResult>((resolve, reject) => {
    sink = { stored: resolve, failed: reject };
  });
  return { sink, promise };
}

/** Hands a waiter its result; a sink that throws does not keep the batch's other waiters from theirs. */
function deliver(w: Waiter, result: StoreResult | Error): void {
  w.done = true;
  try {
    if (result instanceof Error) w.sink.failed(result);
    else w.sink.stored(result);
  } catch (err) {
    process.emitWarning(`rate-limit store: a check's receiver threw: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The checks of one round trip: distinct keys, the script's op list (JSON), the waiters. */
class Batch {
  readonly keyIndex = new Map<string, number>();
  readonly keys: string[] = [];
  /** Distinct op specs (alg, limit, period, burst, shadow, max wait), by the op's `spec` object. */
  readonly specIndex = new Map<object, number>();
  specJson = '';
  readonly waiters: Waiter[] = [];
  ops = 0;
  /**
   * The script's op list as numbers (see #enqueue), encoded once when the batch leaves: one
   * JSON.stringify of a number array costs a fraction of building the same text piece by piece.
   */
  readonly nums: number[] = [];
  /** Fires at the earliest deadline of a waiter not yet settled (armed when a check joins). */
  timer: TimerHandle | undefined;
  timerAt = Infinity;
  /** The round trip's outcome is counted (answer, error, or a first timeout). */
  accounted = false;
  sentAt = 0;
}

class RedisStore implements RedisLimitStore {
  readonly kind = 'redis' as const;
  readonly stats = zeroStats();
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #maxBatch: number;
  readonly #maxOutstanding: number;
  readonly #timers: Timers;
  readonly #testNow: (() => number) | undefined;
  readonly #clock: Clock;
  readonly #stopwatch: Clock;
  readonly #onRoundTrip: RedisStoreOptions['onRoundTrip'];
  #batch = new Batch();
  #scheduled = false;
  #outstanding = 0;
  /** The script has run on the server at least once (a NOSCRIPT after that means it was lost). */
  #scriptRan = false;

  constructor(opts: RedisStoreOptions) {
    if (/[{}]/.test(opts.prefix)) throw new Error(`Redis key prefix must not contain '{' or '}': ${opts.prefix}`);
    const maxBatch = opts.maxBatch ?? 256;
    if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > MAX_BATCH_OPS)
      throw new Error(`Redis batch size must be an integer from 1 to ${MAX_BATCH_OPS}, got ${maxBatch}`);
    this.#redis = opts.redis;
    this.#prefix = opts.prefix;
    this.#timeoutMs = opts.timeoutMs ?? Infinity;
    this.#maxBatch = maxBatch;
    this.#maxOutstanding = opts.maxOutstanding ?? 64;
    this.#timers = opts.timers ?? systemTimers;
    this.#testNow = opts.testNow;
    this.#clock = opts.clock ?? systemClock;
    this.#stopwatch = opts.stopwatch ?? monotonicClock;
    this.#onRoundTrip = opts.onRoundTrip;
  }

  ready(): boolean {
    return this.#redis.status === 'ready';
  }

  check(ops: readonly LimitOp[], timeoutMs?: number): Promise<StoreResult> {
    const { sink, promise } = promiseSink();
    this.#enqueue(ops, undefined, timeoutMs, sink);
    return promise;
  }

  submit(ops: readonly LimitOp[], timeoutMs: number | undefined, sink: StoreSink): void {
    this.#enqueue(ops, undefined, timeoutMs, sink);
  }

  /** One more check in the batch: n ops carried as −n, each with its delta and age (see lua.ts). */
  adjust(adjusts: readonly LimitAdjust[], timeoutMs?: number): Promise<void> {
    if (adjusts.length === 0) return Promise.resolve();
    const { sink, promise } = promiseSink();
    this.#enqueue(
      adjusts.map((a) => a.op),
      adjusts,
      timeoutMs,
      sink,
    );
    return promise.then(() => undefined);
  }

  #enqueue(ops: readonly LimitOp[], adjusts: readonly LimitAdjust[] | undefined, timeoutMs: number | undefined, sink: StoreSink): void {
    const n = ops.length;
    if (n > MAX_CHECK_OPS) {
      this.#add('errors');
      // Never before the caller's submit has returned (StoreSink).
      const err = new LimitStoreTooLargeError(n);
      queueMicrotask(() => sink.failed(err));
      return;
    }
    let b = this.#batch;
    if (b.waiters.length > 0 && (b.waiters.length >= this.#maxBatch || b.ops + n > MAX_BATCH_OPS)) {
      this.#send(b);
      b = this.#batch;
    }
    const limitMs = timeoutMs !== undefined && timeoutMs > 0 ? Math.min(timeoutMs, this.#timeoutMs) : this.#timeoutMs;
    // Per request: its number of ops (negative for an adjustment), then per op its counter, its
    // spec and its cost (an adjustment: its delta and the ms since the charge; see lua.ts).
    const nums = b.nums;
    nums.push(adjusts ? -n : n);
    for (let i = 0; i < n; i++) {
      const op = ops[i] as LimitOp;
      // The prefix is added once per distinct key of the batch, not once per op.
      let k = b.keyIndex.get(op.key);
      if (k === undefined) {
        k = b.keys.push(this.#prefix + op.key);
        b.keyIndex.set(op.key, k);
      }
      const specKey = op.spec ?? op; // an op without a spec object is a spec of its own
      let s = b.specIndex.get(specKey);
      if (s === undefined) {
        s = b.specIndex.size + 1;
        b.specIndex.set(specKey, s);
        const spec = `${op.alg},${op.limit},${op.periodMs},${op.burst},${op.shadow ? 1 : 0},${op.maxWaitMs}`;
        b.specJson = b.specJson === '' ? spec : `${b.specJson},${spec}`;
      }
      if (adjusts) {
        const a = adjusts[i] as LimitAdjust;
        nums.push(k, s, a.delta, Math.max(0, a.sinceMs));
      } else nums.push(k, s, op.cost);
    }
    b.ops += n;
    const deadline = Number.isFinite(limitMs) ? this.#clock.now() + limitMs : Infinity;
    // An adjustment's reply has no op outcomes.
    const replyOps = adjusts ? 0 : n;
    b.waiters.push({ ops: replyOps, deadline, limitMs, sink, done: false });
    if (deadline < b.timerAt) this.#arm(b);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushTurn);
  }

  /**
   * The end of an event-loop turn that started a check: the batch leaves now, never later, so a
   * check never waits behind another round trip and its timeout measures its own.
   */
  readonly #flushTurn = (): void => {
    this.#scheduled = false;
    if (this.#batch.waiters.length > 0) this.#send(this.#batch);
  };

  /** (Re)arms the batch's timer for the earliest deadline of a waiter not yet settled. */
  #arm(b: Batch): void {
    b.timer?.cancel();
    b.timer = undefined;
    let next = Infinity;
    for (const w of b.waiters) if (!w.done && w.deadline < next) next = w.deadline;
    b.timerAt = next;
    if (next !== Infinity) b.timer = this.#timers.after(Math.max(0, next - this.#clock.now()), () => this.#expire(b));
  }

  /** Rejects the waiters whose time is up, and arms the timer again for the others. */
  #expire(b: Batch): void {
    b.timer = undefined;
    b.timerAt = Infinity;
    const now = this.#clock.now();
    let waiting = false;
    for (const w of b.waiters) {
      if (w.done) continue;
      if (w.deadline > now) {
        waiting = true;
        continue;
      }
      this.#account(b, 'timeout');
      deliver(w, new LimitStoreTimeoutError(w.limitMs));
    }
    if (waiting) this.#arm(b);
  }

  /** Counts the round trip once: when it is answered, fails, or a first check gives up on it. */
  #account(b: Batch, outcome: 'ok' | 'error' | 'timeout'): void {
    if (b.accounted) return;
    b.accounted = true;
    if (outcome === 'error') this.#add('errors');
    else if (outcome === 'timeout') this.#add('timeouts');
    this.#onRoundTrip?.(this.#stopwatch.now() - b.sentAt, outcome);
  }

  #send(b: Batch): void {
    this.#batch = new Batch();
    const waiters = b.waiters;
    const count = waiters.length;
    if (this.#outstanding >= this.#maxOutstanding) {
      b.timer?.cancel();
      this.#add('shed', count);
      rejectAll(waiters, new LimitStoreOverloadError(this.#outstanding));
      return;
    }
    this.#outstanding++;
    this.#add('checks', count);
    b.sentAt = this.#stopwatch.now();
    const numKeys = b.keys.length;
    const args: string[] = b.keys; // KEYS, then ARGV: the time ('' = Redis TIME), the ops, their specs
    args.push(this.#testNow ? String(this.#testNow()) : '', JSON.stringify(b.nums), `[${b.specJson}]`);
    const answered = (): void => {
      this.#outstanding--;
      b.timer?.cancel();
    };
    this.#run(numKeys, args, count).then(
      (reply) => {
        answered();
        let results: StoreResult[];
        try {
          results = parseReply(reply, waiters);
        } catch (err) {
          this.#fail(b, err);
          return;
        }
        this.#account(b, 'ok');
        for (let i = 0; i < count; i++) {
          const w = waiters[i] as Waiter;
          if (!w.done) deliver(w, results[i] as StoreResult);
        }
      },
      (err: unknown) => {
        answered();
        this.#fail(b, err);
      },
    );
  }

  #fail(b: Batch, err: unknown): void {
    this.#account(b, 'error');
    rejectAll(b.waiters, err instanceof Error ? err : new Error(String(err)));
  }

  async #run(numKeys: number, args: string[], checks: number): Promise<unknown> {
    this.#count(checks);
    try {
      // The reply as bytes (parseReply reads its digits from them): no string is decoded for it.
      const reply: unknown = await this.#redis.callBuffer('evalsha', [LIMIT_SCRIPT_SHA, numKeys, ...args]);
      this.#scriptRan = true;
      return reply;
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      // The server has not got the script: on first contact that is normal; later, it lost its
      // script cache (restart, SCRIPT FLUSH, failover). EVAL runs the script and caches it, so
      // the next batch is one EVALSHA again.
      this.#add(this.#scriptRan ? 'scriptReloads' : 'scriptLoads');
      this.#count(checks);
      const reply: unknown = await this.#redis.callBuffer('eval', [LIMIT_SCRIPT, numKeys, ...args]);
      this.#scriptRan = true;
      return reply;
    }
  }

  #count(checks: number): void {
    this.#add('roundTrips');
    this.#add('checkRoundTrips', checks);
  }

  /** Adds to this store's counter and to the process-wide one. */
  #add(stat: keyof RedisStoreStats, n = 1): void {
    this.stats[stat] += n;
    totals[stat] += n;
  }
}

/** Rejects every check of a batch that is still waiting. */
function rejectAll(waiters: readonly Waiter[], e: Error): void {
  for (const w of waiters) if (!w.done) deliver(w, e);
}

/**
 * Reads the script's integers one by one from the reply's bytes: each must be a decimal integer
 * (optional minus), separated by single spaces, and safe as a double.
 */
class IntReader {
  #i = 0;
  readonly #n: number;
  constructor(readonly bytes: Uint8Array) {
    this.#n = bytes.length;
  }
  next(): number {
    const b = this.bytes;
    const n = this.#n;
    let i = this.#i;
    const neg = i < n && b[i] === 45; // '-'
    if (neg) i++;
    const start = i;
    let x = 0;
    for (; i < n; i++) {
      const c = b[i] as number;
      if (c < 48 || c > 57) break;
      x = x * 10 + (c - 48);
    }
    if (i === start || i - start > 16 || x > Number.MAX_SAFE_INTEGER || (i < n && b[i] !== 32)) {
      const at = this.#i;
      throw new Error(
        `unexpected rate-limit script reply element at ${at}: ${JSON.stringify(Buffer.from(b.subarray(at, at + 20)).toString('latin1'))}`,
      );
    }
    this.#i = i + 1;
    return neg ? -x : x;
  }
  /** Whether every number has been read. */
  done(): boolean {
    return this.#i > this.#n;
  }
}

/** The script's reply: per check, 2 + 4n integers in one bulk string (see lua.ts), as bytes or text; exported for tests. */
export function parseReply(reply: unknown, waiters: readonly Pick<Waiter, 'ops'>[]): StoreResult[] {
  const bytes = typeof reply === 'string' ? Buffer.from(reply, 'latin1') : reply;
  if (!(bytes instanceof Uint8Array)) throw new Error('unexpected rate-limit script reply');
  const r = new IntReader(bytes);
  const results = new Array<StoreResult>(waiters.length);
  for (let j = 0; j < waiters.length; j++) {
    const n = (waiters[j] as Pick<Waiter, 'ops'>).ops;
    const allowed = r.next() === 1;
    const waitMs = r.next() / 1000;
    const outcomes = new Array<OpOutcome>(n);
    for (let i = 0; i < n; i++)
      outcomes[i] = { allowed: r.next() === 1, remaining: r.next(), resetMs: r.next() / 1000, retryMs: r.next() / 1000 };
    results[j] = { allowed, waitMs, outcomes };
  }
  if (!r.done()) throw new Error('unexpected rate-limit script reply: more numbers than its checks have ops');
  return results;
}
