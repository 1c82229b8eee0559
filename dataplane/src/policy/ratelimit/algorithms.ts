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
      out.remaining0 = Math.floor(tokens / period);
      out.remaining1 = Math.floor(after / period);
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
