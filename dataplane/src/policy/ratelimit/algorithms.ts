/**
 * The counter algorithms, in the exact arithmetic the Lua script uses (lua.ts mirrors every
 * line; the contract suite checks that both stores decide alike). Times are ms. Each evaluation
 * is pure: it reads a counter's state and yields the decision and the state to store if the
 * request is admitted. Stores write nothing for a request that some level rejects.
 *
 * State, three numbers per counter (a, b, c):
 * - TokenBucket: a = tokens scaled by the period (token·ms), b = time of the last refill. Refill
 *   is `elapsed · limit` in these units, so integer times give exact integer arithmetic.
 * - GCRA: a = theoretical arrival time (TAT). `T = period / limit`, tolerance `τ = T · burst`,
 *   so `burst` requests pass back to back and then one per T (redis-cell uses `burst + 1`; our
 *   IR's burst is the capacity).
 * - FixedWindow: a = window index, b = units counted in it.
 * - SlidingWindow (Cloudflare): a = window index, b = current window's units, c = previous's.
 *   Estimate `prev · (1 − elapsed/period) + curr`, compared multiplied by the period (exact).
 * - SlidingLog: a list of (time, cost) of admitted requests (see SlidingLogState).
 *
 * `adjust` corrects what a counter was charged (LLM tokens settled from the answer's usage).
 */
import { ALG, type LimitOp } from './types.js';

/** Scratch output of one evaluation. */
export interface Evaluation {
  allowed: boolean;
  waitMs: number;
  /** Remaining and reset before (0) and after (1) charging this request. */
  remaining0: number;
  remaining1: number;
  reset0: number;
  reset1: number;
  retryMs: number;
  /** State to store when the request is admitted. */
  a: number;
  b: number;
  c: number;
}

export function newEvaluation(): Evaluation {
  return { allowed: false, waitMs: 0, remaining0: 0, remaining1: 0, reset0: 0, reset1: 0, retryMs: 0, a: 0, b: 0, c: 0 };
}

/** Admitted requests of a sliding-log counter, oldest first, as a ring-less queue with a head. */
export interface SlidingLogState {
  times: number[];
  costs: number[];
  head: number;
  sum: number;
}

/** Evaluates a counter with scalar state. `found` false: the counter has no state (fresh). */
export function evaluate(op: LimitOp, now: number, found: boolean, a: number, b: number, c: number, out: Evaluation): void {
  const { limit, periodMs: period, burst, cost } = op;
  out.waitMs = 0;
  out.retryMs = 0;
  switch (op.alg) {
    case ALG.TokenBucket: {
      const cap = burst * period;
      const need = cost * period;
      let tokens = found ? a : cap;
      let last = found ? b : now;
      if (now > last) {
        tokens = Math.min(cap, tokens + (now - last) * limit);
        last = now;
      }
      out.allowed = need <= tokens;
      const after = tokens - need;
      // A bucket in debt (an LLM answer used more than it reserved, see adjust) has nothing left.
      out.remaining0 = Math.max(0, Math.floor(tokens / period));
      out.remaining1 = Math.max(0, Math.floor(after / period));
      out.reset0 = (cap - tokens) / limit;
      out.reset1 = (cap - after) / limit;
      if (!out.allowed) out.retryMs = cost > burst ? -1 : (need - tokens) / limit;
      out.a = after;
      out.b = last;
      out.c = 0;
      return;
    }
    case ALG.GCRA: {
      const T = period / limit;
      const tau = T * burst;
      const tat = found ? a : now;
      const base = Math.max(tat, now);
      const newTat = base + T * cost;
      const diff = newTat - tau - now;
      if (diff <= 0) out.allowed = true;
      else if (op.maxWaitMs >= 0 && cost <= burst && diff <= op.maxWaitMs) {
        out.allowed = true;
        out.waitMs = diff;
      } else {
        out.allowed = false;
        out.retryMs = cost > burst ? -1 : diff;
      }
      out.remaining0 = Math.max(0, Math.floor((tau - (base - now)) / T));
      out.remaining1 = Math.max(0, Math.floor((tau - (newTat - now)) / T));
      out.reset0 = base - now;
      out.reset1 = newTat - now;
      out.a = newTat;
      out.b = 0;
      out.c = 0;
      return;
    }
    case ALG.FixedWindow: {
      const w = Math.floor(now / period);
      const count = found && a === w ? b : 0;
      out.allowed = count + cost <= limit;
      out.remaining0 = Math.max(0, limit - count);
      out.remaining1 = Math.max(0, limit - count - cost);
      const reset = (w + 1) * period - now;
      out.reset0 = count > 0 ? reset : 0;
      out.reset1 = reset;
      if (!out.allowed) out.retryMs = cost > limit ? -1 : reset;
      out.a = w;
      out.b = count + cost;
      out.c = 0;
      return;
    }
    case ALG.SlidingWindow: {
      const w = Math.floor(now / period);
      const elapsed = now - w * period;
      let curr = 0;
      let prev = 0;
      if (found && a === w) {
        curr = b;
        prev = c;
      } else if (found && a === w - 1) prev = b;
      const weighted = prev * (period - elapsed);
      out.allowed = weighted + (curr + cost) * period <= limit * period;
      out.remaining0 = Math.max(0, Math.floor((limit * period - weighted - curr * period) / period));
      out.remaining1 = Math.max(0, Math.floor((limit * period - weighted - (curr + cost) * period) / period));
      out.reset0 = curr > 0 ? 2 * period - elapsed : prev > 0 ? period - elapsed : 0;
      out.reset1 = 2 * period - elapsed;
      if (!out.allowed) {
        if (cost > limit) out.retryMs = -1;
        else if (curr + cost <= limit) out.retryMs = period - ((limit - curr - cost) * period) / prev - elapsed;
        else out.retryMs = period - elapsed + (period - ((limit - cost) * period) / curr);
      }
      out.a = w;
      out.b = curr + cost;
      out.c = prev;
      return;
    }
    case ALG.SlidingLog:
      throw new Error('sliding log counters are evaluated by evaluateLog');
  }
}

/** Drops entries that left the window `(now − period, now]`. */
export function pruneLog(log: SlidingLogState, now: number, period: number): void {
  const cutoff = now - period;
  let h = log.head;
  while (h < log.times.length && (log.times[h] ?? 0) <= cutoff) {
    log.sum -= log.costs[h] ?? 0;
    h++;
  }
  if (h === log.times.length) {
    log.times.length = 0;
    log.costs.length = 0;
    log.head = 0;
  } else if (h > 32 && h * 2 > log.times.length) {
    log.times.splice(0, h);
    log.costs.splice(0, h);
    log.head = 0;
  } else log.head = h;
}

/** Evaluates a sliding-log counter whose log was pruned at `now` (or is absent). */
export function evaluateLog(op: LimitOp, now: number, log: SlidingLogState | undefined, out: Evaluation): void {
  const { limit, periodMs: period, cost } = op;
  const sum = log ? log.sum : 0;
  out.waitMs = 0;
  out.retryMs = 0;
  out.allowed = sum + cost <= limit;
  out.remaining0 = Math.max(0, limit - sum);
  out.remaining1 = Math.max(0, limit - sum - cost);
  const newest = log && log.times.length > log.head ? (log.times[log.times.length - 1] ?? now) : undefined;
  out.reset0 = newest === undefined ? 0 : newest + period - now;
  out.reset1 = period;
  if (!out.allowed) {
    if (cost > limit || !log) out.retryMs = -1;
    else {
      const need = sum + cost - limit;
      let freed = 0;
      out.retryMs = -1;
      for (let i = log.head; i < log.times.length; i++) {
        freed += log.costs[i] ?? 0;
        if (freed >= need) {
          out.retryMs = (log.times[i] ?? now) + period - now;
          break;
        }
      }
    }
  }
  out.a = 0;
  out.b = 0;
  out.c = 0;
}

/** The state `adjust` leaves; `write` false: nothing to store. */
export interface Adjusted {
  write: boolean;
  a: number;
  b: number;
  c: number;
  /** Ms until the state no longer matters (the Redis TTL). */
  ttlMs: number;
}

export function newAdjusted(): Adjusted {
  return { write: false, a: 0, b: 0, c: 0, ttlMs: 0 };
}

/**
 * Charges a scalar counter `delta` more units (> 0) or refunds −delta units (< 0) of a charge made
 * `sinceMs` ago, unconditionally. A charge may overdraw a counter (the units were used: the
 * counter admits nothing more until it has recovered them); a refund never takes it past full.
 * - TokenBucket: tokens −= delta after the refill; a refund stops at the capacity, a charge may
 *   leave the bucket in debt (negative tokens, refilled at the rate like any other).
 * - GCRA: TAT += delta · T; a refund never moves the TAT before now (a full allowance).
 * - FixedWindow: the window's count += delta; a refund applies only while the window of the
 *   charge is the current one (an earlier window is gone), and never below 0.
 * - SlidingWindow: a charge adds to the current window; a refund comes off the window the charge
 *   was counted in (current or previous), never below 0, and is dropped once that window is older.
 * Sliding logs are adjusted by the store (see adjustLog). A refund to a counter with no state
 * (`found` false: expired or evicted, i.e. full) writes nothing.
 */
export function adjust(
  op: LimitOp,
  now: number,
  found: boolean,
  a: number,
  b: number,
  c: number,
  delta: number,
  sinceMs: number,
  out: Adjusted,
): void {
  const { limit, periodMs: period, burst } = op;
  out.write = delta !== 0 && (found || delta > 0);
  if (!out.write) return;
  switch (op.alg) {
    case ALG.TokenBucket: {
      const cap = burst * period;
      let tokens = found ? a : cap;
      let last = found ? b : now;
      if (now > last) {
        tokens = Math.min(cap, tokens + (now - last) * limit);
        last = now;
      }
      tokens -= delta * period;
      if (delta < 0) tokens = Math.min(cap, tokens);
      out.a = tokens;
      out.b = last;
      out.c = 0;
      out.ttlMs = (cap - tokens) / limit;
      return;
    }
    case ALG.GCRA: {
      const T = period / limit;
      const base = Math.max(found ? a : now, now);
      const tat = Math.max(now, base + delta * T);
      out.a = tat;
      out.b = 0;
      out.c = 0;
      out.ttlMs = tat - now;
      return;
    }
    case ALG.FixedWindow: {
      const w = Math.floor(now / period);
      let count = found && a === w ? b : 0;
      if (delta > 0) count += delta;
      else if (Math.floor((now - sinceMs) / period) === w) count = Math.max(0, count + delta);
      out.a = w;
      out.b = count;
      out.c = 0;
      out.ttlMs = (w + 1) * period - now;
      return;
    }
    case ALG.SlidingWindow: {
      const w = Math.floor(now / period);
      let curr = 0;
      let prev = 0;
      if (found && a === w) {
        curr = b;
        prev = c;
      } else if (found && a === w - 1) prev = b;
      if (delta > 0) curr += delta;
      else {
        const charged = Math.floor((now - sinceMs) / period);
        if (charged === w) curr = Math.max(0, curr + delta);
        else if (charged === w - 1) prev = Math.max(0, prev + delta);
      }
      out.a = w;
      out.b = curr;
      out.c = prev;
      out.ttlMs = 2 * period - (now - w * period);
      return;
    }
    case ALG.SlidingLog:
      throw new Error('sliding log counters are adjusted by adjustLog');
  }
}

/**
 * A sliding log's adjustment: a charge is one more entry (now, delta); a refund is not applied —
 * the reservation's entry stays until it leaves the window (a log cannot tell which entry was
 * this request's). Returns the units to add, 0 for none.
 */
export function adjustLog(delta: number): number {
  return delta > 0 ? delta : 0;
}
