/**
 * Sends one exchange to ONE backend, with everything its CircuitBreakerPolicy asks for: breaker
 * admission, the choice of endpoint, tries with time limits, and retries to other endpoints
 * within a budget. The proxy stage uses it for the backend it picked by weight; a fallback stage
 * uses it once per step of its chain. API:
 *
 *   const sender = ctx.sender;                  // one BackendSender per config (StageContext)
 *   sender.rejects(backend)                     // true: its breaker fails fast now — skip it untried
 *   sender.send(x, backend, owner, options)     // returns at once; owner.accept / owner.done later
 *
 * The owner (a SendOwner) hears twice at most:
 *
 * - `accept(x, status, call)`: the final head of this send arrived (what retries could not do
 *   better; `call.head` has it). true commits it — it streams to the client, and nothing can be retried or discarded
 *   any more; false discards it: the client has seen nothing, and `done` follows with `discarded`
 *   (a fallback stage then moves on to its next step).
 * - `done(x, result)`, exactly once: `answered` (committed; x.status set — with `error` when the
 *   answer broke off after the commit), `failed` (nothing committed: the last try's error; answer
 *   it with answerCallError, or move on), `discarded`, `breaker-open` (failed fast, nothing sent;
 *   `retryAfterMs` for a Retry-After), `no-endpoint` (none ready, up, and not tried), or `deadline`
 *   (options.deadline passed before a try could start). Only `answered` has written to the client.
 *
 * What one send does:
 *
 * 1. The breaker admits the send (one permit for all its tries) or fails it fast.
 * 2. An endpoint: ready, healthy and not ejected (or any ready one in panic), not tried in this send.
 * 3. A try (proxy/call.ts) with a time limit to the end of its answer: the shortest of
 *    options.perTryTimeoutMs (the route's timeouts.backendRequest), the backend's
 *    retry.perTryTimeoutMs, and what is left until options.deadline (the route's timeouts.request);
 *    and, until its head comes, what is left until options.headDeadline (a fallback step's timeout).
 * 4. Each try's outcome goes to outlier detection (per endpoint), at its head or at its failure
 *    before a head. The breaker (per backend) records the send's final outcome once: the final
 *    head's status or the last try's failure (failure statuses, timeouts and connection errors as
 *    the policy says; other 4xx neutral; slow when the final head or failure came after
 *    slowCall.threshold from the start of the send). A try that failed on one endpoint and
 *    succeeded on another is a success of the backend: one slow or dead replica is outlier
 *    detection's to eject, not a reason to fail the whole backend.
 * 5. A retry follows, after a full-jitter backoff (or the answer's Retry-After, when longer and not
 *    longer than backoff.max), to an endpoint not tried yet, when the backend has a retry section
 *    and: the try failed in a way retryOn names (a status before its head is committed, a
 *    timeout, a refused or reset connection); attempts are left; the method is idempotent or the
 *    request never reached the endpoint; the body can be sent again (none, read into x.body, or
 *    never started to stream); the deadline leaves room; another endpoint is available; and the
 *    retry budget allows it. A retry never happens after a commit.
 */
import type { Clock, TimerHandle, Timers } from '../clock.js';
import type { Exchange } from '../pipeline/exchange.js';
import { backoffMs, retryAfterMs } from '../policy/breaker/backoff.js';
import { REJECTED } from '../policy/breaker/breaker.js';
import type { RetryReason } from '../policy/breaker/events.js';
import { CallTimeout, dispatchCall, type CallError, type CallOptions, type CallOwner, type UpstreamCall } from './call.js';
import { DEADLINE_HEADER, upstreamHeaders, type HeaderPolicy } from './headers.js';
import type { Backend, Endpoint } from './upstreams.js';
import { CallWatch } from './watch.js';

export type SendResult =
  | { readonly kind: 'answered'; readonly call: UpstreamCall; readonly error?: CallError }
  | { readonly kind: 'failed'; readonly call: UpstreamCall; readonly error: CallError }
  | { readonly kind: 'discarded'; readonly status: number }
  | { readonly kind: 'breaker-open'; readonly retryAfterMs: number }
  | { readonly kind: 'no-endpoint' }
  | { readonly kind: 'deadline' };

export interface SendOwner {
  /** The final head arrived (`call` has it): true commits it to the client, false discards it (`done` gets `discarded`). */
  accept(x: Exchange, status: number, call: UpstreamCall): boolean;
  /** The send is over (exactly once). */
  done(x: Exchange, result: SendResult): void;
}

export interface SendOptions {
  /** Stopwatch ms by which the exchange must be over (the route's timeouts.request); Infinity: none. */
  readonly deadline: number;
  /** Time limit of each try (the route's timeouts.backendRequest); undefined: none of the route's. */
  readonly perTryTimeoutMs: number | undefined;
  /** The body to send instead of x.body (a fallback step that rewrites it). */
  readonly body?: Buffer;
  /**
   * Stopwatch ms by which the final head must have come (a fallback step's timeout): a try still
   * without one then is aborted as a timeout, no try or retry starts after it, and a committed
   * answer is bound by `deadline` only. Undefined: none.
   */
  readonly headDeadline?: number;
}

export interface SenderDeps {
  readonly call: CallOptions;
  /** What the upstream request's headers carry (forwarding, identity). */
  readonly headers: HeaderPolicy;
  /** Monotonic ms (tries, deadlines, backoff). */
  readonly stopwatch: Clock;
  /** Wall-clock ms (Retry-After dates). */
  readonly clock: Clock;
  readonly timers: Timers;
  readonly random: () => number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** No options: no deadline, no per-try limit of the route's. */
export const NO_LIMITS: SendOptions = Object.freeze({ deadline: Infinity, perTryTimeoutMs: undefined });

export class BackendSender {
  /** The upstream headers and body timeouts of this sender's calls (one timer for all of them). */
  readonly watch: CallWatch;

  constructor(readonly deps: SenderDeps) {
    this.watch = new CallWatch(deps.call, deps.timers, deps.stopwatch);
  }

  /** Whether the backend's breaker would refuse a call now (OPEN, or HALF_OPEN with every probe slot taken). */
  rejects(backend: Backend): boolean {
    return backend.guard.breaker?.rejects() ?? false;
  }

  send(x: Exchange, backend: Backend, owner: SendOwner, options: SendOptions = NO_LIMITS): void {
    new Send(this.deps, this.watch, x, backend, owner, options).start();
  }
}

/** One send: the CallOwner of its tries. */
class Send implements CallOwner {
  /** Tries started. */
  #tries = 0;
  /** Origins tried (allocated on the first retry). */
  #tried: string[] | undefined;
  #endpoint: Endpoint | undefined;
  #permit = REJECTED;
  /** Stopwatch reading at the start of the send (slow calls). */
  #startedAt = 0;
  /** Whether the breaker has the send's outcome (or its permit back). */
  #settled = false;
  /** The last try's failure, for a retry that cannot start after all. */
  #last: { call: UpstreamCall; error: CallError } | undefined;
  /** Whether the current try is a retry the budget counts as in flight. */
  #budgeted = false;
  /** Whether the budget has allowed a retry that has not started yet. */
  #reserved = false;
  #timer: TimerHandle | undefined;
  /** Aborts a try that has no head by options.headDeadline. */
  #headTimer: TimerHandle | undefined;
  /** Set when the current try's head was discarded for a retry after this many ms. */
  #retryIn: number | undefined;
  #over = false;

  constructor(
    private readonly deps: SenderDeps,
    private readonly watch: CallWatch,
    private readonly x: Exchange,
    private readonly backend: Backend,
    private readonly owner: SendOwner,
    private readonly options: SendOptions,
  ) {}

  start(): void {
    const guard = this.backend.guard;
    const breaker = guard.breaker;
    this.#startedAt = this.deps.stopwatch.now();
    if (breaker) {
      this.#permit = breaker.acquire();
      if (this.#permit === REJECTED) {
        this.#settled = true;
        guard.events.breakerRejected(this.backend.id);
        this.owner.done(this.x, { kind: 'breaker-open', retryAfterMs: breaker.retryAfterMs() });
        return;
      }
    } else this.#settled = true;
    guard.budget?.started();
    this.#attempt();
  }

  #attempt(): void {
    const { x, backend, deps, options } = this;
    const guard = backend.guard;
    const now = deps.stopwatch.now();
    const last = this.#last;
    const headBy = options.headDeadline ?? Infinity;
    if (now >= options.deadline || now >= headBy) {
      if (last) return this.#fail(last.call, last.error);
      return this.#done({ kind: 'deadline' });
    }
    const endpoint = backend.pick(this.#tried);
    if (!endpoint) {
      if (last) return this.#fail(last.call, last.error);
      return this.#done({ kind: 'no-endpoint' });
    }
    this.#endpoint = endpoint;
    this.#budgeted = this.#reserved;
    this.#reserved = false;
    this.#tries++;
    this.#retryIn = undefined;
    x.backend = backend.id;
    x.endpoint = endpoint.origin;
    const body = options.body ?? x.body;
    const headers = upstreamHeaders(x.req.headers, x, deps.headers);
    if (x.deadline > 0) headers[DEADLINE_HEADER] = String(x.deadlineUnixMs);
    const own = x.upstreamHeaders;
    if (own) for (const name in own) headers[name] = own[name] as string;
    const call = dispatchCall(
      x,
      endpoint.pool,
      endpoint.origin,
      {
        method: x.method,
        path: x.url,
        headers,
        body,
        prefix: x.bodyPrefix,
        streamBody: x.hasBody,
      },
      deps.call,
      this,
      deps.stopwatch,
      this.watch,
    );
    const limit = Math.min(options.perTryTimeoutMs ?? Infinity, guard.retry?.perTryTimeoutMs ?? Infinity, options.deadline - now);
    if (limit < Infinity) this.#timer = deps.timers.after(limit, () => call.abort(new CallTimeout(limit)));
    if (headBy - now < limit) this.#headTimer = deps.timers.after(headBy - now, () => call.abort(new CallTimeout(headBy - now)));
  }

  head(call: UpstreamCall, status: number): boolean {
    this.#headTimer?.cancel();
    this.#headTimer = undefined;
    if (this.#endpoint) this.backend.guard.observeStatus(this.#endpoint.origin, status);
    const retry = this.backend.guard.retry;
    if (retry && retry.retryOn.statusCodes.includes(status) && IDEMPOTENT.has(this.x.method) && this.#replayable(call)) {
      const after = retryAfterMs(call.header('retry-after'), this.deps.clock.now());
      if (after === undefined || after <= retry.backoff.maxMs) {
        const delay = this.#retryDelay('status', after ?? 0);
        if (delay !== undefined) {
          this.#retryIn = delay;
          return false;
        }
      }
    }
    this.#settleStatus(call, status);
    return this.owner.accept(this.x, status, call);
  }

  end(call: UpstreamCall, error: CallError | undefined): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#headTimer?.cancel();
    this.#headTimer = undefined;
    const x = this.x;
    x.upstreamStart = call.startedAt;
    x.upstreamHead = call.headAt;
    x.upstreamEnd = call.endedAt;
    if (this.#budgeted) {
      this.#budgeted = false;
      this.backend.guard.budget?.retryEnded();
    }
    if (error === undefined) {
      x.status = call.status;
      return this.#done({ kind: 'answered', call });
    }
    if (call.committed) return this.#done({ kind: 'answered', call, error });
    if (error.kind === 'discarded') {
      const wait = this.#retryIn;
      if (wait === undefined) return this.#done({ kind: 'discarded', status: call.status });
      return this.#retryAfter(wait, call, error);
    }
    const kind = error.kind;
    const gateway = kind === 'timeout' || kind === 'connect' || kind === 'upstream-reset';
    if (gateway) {
      if (this.#endpoint) this.backend.guard.observeGatewayError(this.#endpoint.origin);
      const retry = this.backend.guard.retry;
      const reason: RetryReason = kind === 'timeout' ? 'timeout' : 'connect';
      const wanted = retry !== undefined && (kind === 'timeout' ? retry.retryOn.timeouts : retry.retryOn.connectErrors);
      const allowed = this.#replayable(call) && (IDEMPOTENT.has(x.method) || !error.sent);
      if (wanted && allowed) {
        const delay = this.#retryDelay(reason, 0);
        if (delay !== undefined) return this.#retryAfter(delay, call, error);
      }
    }
    this.#fail(call, error);
  }

  /** The send ends with the last try's failure: the breaker records it. */
  #fail(call: UpstreamCall, error: CallError): void {
    this.#settleError(call, error);
    this.#done({ kind: 'failed', call, error });
  }

  /** Whether the request can be sent again: no body, a body read before, or a streamed body that never started to flow. */
  #replayable(call: UpstreamCall): boolean {
    const x = this.x;
    return this.options.body !== undefined || x.body !== undefined || !x.hasBody || !call.bodyStarted;
  }

  /**
   * The wait before a retry when one may follow (reserving it in the budget), or undefined. Checks
   * attempts, the deadline, an untried endpoint, and the budget, in that order.
   */
  #retryDelay(reason: RetryReason, atLeastMs: number): number | undefined {
    const guard = this.backend.guard;
    const retry = guard.retry;
    if (!retry || this.#tries > retry.attempts || this.#endpoint === undefined) return undefined;
    const delay = Math.max(atLeastMs, backoffMs(this.#tries, retry.backoff.baseMs, retry.backoff.maxMs, this.deps.random));
    if (this.deps.stopwatch.now() + delay >= Math.min(this.options.deadline, this.options.headDeadline ?? Infinity)) return undefined;
    const tried = (this.#tried ??= []);
    if (!tried.includes(this.#endpoint.origin)) tried.push(this.#endpoint.origin);
    if (!this.backend.hasEndpoint(tried)) return undefined;
    if (guard.budget && !guard.budget.tryRetry()) {
      guard.events.budgetExhausted(this.backend.id);
      return undefined;
    }
    this.#reserved = guard.budget !== undefined;
    guard.events.retried(this.backend.id, reason);
    return delay;
  }

  #retryAfter(ms: number, call: UpstreamCall, error: CallError): void {
    // A discarded head is a status the retry did not take: what stands if the retry cannot start.
    this.#last = error.kind === 'discarded' ? { call, error: { kind: 'connect', cause: error.cause, sent: true } } : { call, error };
    const go = (): void => {
      if (this.x.clientGone) return this.#done({ kind: 'failed', call, error: { kind: 'client-gone', cause: error.cause, sent: false } });
      this.#attempt();
    };
    if (ms <= 0) go();
    else this.#timer = this.deps.timers.after(ms, go);
  }

  /** The final head's status into the breaker (once per send). */
  #settleStatus(call: UpstreamCall, status: number): void {
    const breaker = this.backend.guard.breaker;
    if (this.#settled || !breaker) return;
    this.#settled = true;
    const slow = this.#slow(call.headAt);
    if (breaker.ir.failureStatusCodes.includes(status)) breaker.record(this.#permit, true, slow);
    else if (status >= 400 && status < 500) breaker.release(this.#permit);
    else breaker.record(this.#permit, false, slow);
  }

  /** The last try's failure into the breaker (once per send). */
  #settleError(call: UpstreamCall, error: CallError): void {
    const breaker = this.backend.guard.breaker;
    if (this.#settled || !breaker) return;
    this.#settled = true;
    const kind = error.kind;
    const counts =
      kind === 'timeout' ? breaker.ir.countTimeouts : (kind === 'connect' || kind === 'upstream-reset') && breaker.ir.countConnectErrors;
    if (counts) breaker.record(this.#permit, true, this.#slow(call.endedAt));
    else breaker.release(this.#permit);
  }

  #slow(at: number): boolean {
    const slow = this.backend.guard.breaker?.ir.slowCall;
    return slow !== undefined && at - this.#startedAt > slow.thresholdMs;
  }

  #done(result: SendResult): void {
    if (this.#over) return;
    this.#over = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#headTimer?.cancel();
    this.#headTimer = undefined;
    if (!this.#settled) {
      // No outcome of the backend's to count (the client left, a body too large, no endpoint, the deadline).
      this.#settled = true;
      this.backend.guard.breaker?.release(this.#permit);
    }
    const budget = this.backend.guard.budget;
    if (budget) {
      if (this.#reserved) budget.retryEnded();
      if (this.#budgeted) budget.retryEnded();
      budget.ended();
    }
    this.#reserved = this.#budgeted = false;
    this.owner.done(this.x, result);
  }
}
