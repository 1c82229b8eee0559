/**
 * The upstream timeouts of every call in flight (--upstream-headers-timeout and
 * --upstream-body-timeout), kept by one timer for all of them instead of timers per call.
 *
 * A watched call reports progress by counting events (it started on a connection, a chunk of a
 * streamed request body went on to it, its head came, a body chunk came, the client drained): no
 * clock is read per event. Every `periodMs` the watch looks at each call: a count that moved since the last
 * look restarts the call's quiet time; a call quiet for longer than the limit of its phase — the
 * headers timeout until its head came, the body timeout after — is told so (`timedOut`). A call
 * paused because its client is slow to read has no limit meanwhile. So a timeout fires after at
 * least its limit of silence and at most two periods later; the period is an eighth of the shorter
 * limit, between 10 ms and 500 ms.
 *
 * The timer runs only while calls are watched. undici's own per-request timers stay off (they
 * allocate timer objects per request that outlive it, which the collector then promotes).
 *
 * The calls are a list through themselves, not a Set: a Set that churns replaces its table now
 * and then, and V8 links each replaced table to its successor, so a replaced table that reached
 * the old generation keeps every later table — and every call they held, with its whole
 * exchange — alive through young collections until the next full one (measured: from then on
 * nearly every request's objects were promoted, and the gateway's CPU per request rose by a fifth).
 */
import type { Clock, Timers } from '../clock.js';
import { RecencyList, type Linked } from '../recency.js';

/** What the watch reads of a call, and the fields it keeps there. */
export interface WatchedCall extends Linked<WatchedCall> {
  /** Counts the call's events (see the file's comment); any change is progress. */
  readonly progress: number;
  /** The limit of the call's current phase in ms (0: none now: no limit, or paused by its client). */
  quietLimitMs(limits: CallLimits): number;
  /** The call was quiet for longer than `limitMs`: it ends as a timeout. */
  timedOut(limitMs: number): void;
  /** @internal (CallWatch) the progress count at the last look. */
  watchedProgress: number;
  /** @internal (CallWatch) stopwatch ms since which the count has not moved. */
  quietSince: number;
  /** @internal (CallWatch) whether the call is in the watch's list. */
  watched: boolean;
}

export interface CallLimits {
  /** From the request on its connection (or the last chunk of its streamed body) to the upstream's head; 0: none. */
  readonly headersTimeoutMs: number;
  /** The longest pause between body chunks; 0: none. */
  readonly bodyTimeoutMs: number;
}

export const MIN_PERIOD_MS = 10;
export const MAX_PERIOD_MS = 500;

/** How often the watch looks: an eighth of the shorter limit, within [MIN_PERIOD_MS, MAX_PERIOD_MS]. */
export function watchPeriodMs(limits: CallLimits): number {
  const set = [limits.headersTimeoutMs, limits.bodyTimeoutMs].filter((ms) => ms > 0);
  if (set.length === 0) return MAX_PERIOD_MS;
  return Math.min(MAX_PERIOD_MS, Math.max(MIN_PERIOD_MS, Math.floor(Math.min(...set) / 8)));
}

export class CallWatch {
  readonly periodMs: number;
  readonly #calls = new RecencyList<WatchedCall>();
  #size = 0;
  /** Whether the next look is scheduled. */
  #armed = false;
  readonly #look = (): void => this.#sweep();

  constructor(
    readonly limits: CallLimits,
    private readonly timers: Timers,
    /** Monotonic ms. */
    private readonly stopwatch: Clock,
  ) {
    this.periodMs = watchPeriodMs(limits);
  }

  /** Calls watched now. */
  get size(): number {
    return this.#size;
  }

  add(call: WatchedCall): void {
    if (call.watched) return;
    call.watched = true;
    call.watchedProgress = call.progress;
    call.quietSince = this.stopwatch.now();
    this.#calls.append(call);
    this.#size++;
    this.#arm();
  }

  delete(call: WatchedCall): void {
    if (!call.watched) return;
    call.watched = false;
    this.#calls.unlink(call);
    this.#size--;
  }

  #arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    this.timers.after(this.periodMs, this.#look);
  }

  #sweep(): void {
    this.#armed = false;
    const now = this.stopwatch.now();
    let call = this.#calls.oldest;
    while (call !== undefined) {
      // Read before the call may leave the list (timedOut ends it).
      const next = call.newer;
      const progress = call.progress;
      const limit = call.quietLimitMs(this.limits);
      if (progress !== call.watchedProgress || limit === 0) {
        call.watchedProgress = progress;
        call.quietSince = now;
      } else if (now - call.quietSince >= limit) {
        this.delete(call);
        call.timedOut(limit);
      }
      call = next;
    }
    if (this.#size > 0) this.#arm();
  }
}
