/**
 * The terminal stage of every route: picks a backend by weight and sends the request there
 * through the backend sender (send.ts: breaker, endpoint choice, tries and retries), committing
 * the answer it gets. Failures before the answer started are answered here with a problem: 413
 * for a body over the limit, 504 for a timeout (a try's, or the route's timeouts.request), 502
 * when the upstream could not be reached, 503 with Retry-After when the backend's breaker is open
 * (`circuit-open`) and 503 when it has no endpoint to send to; a route without a usable backend
 * answers 500 (Gateway API). An exchange with a cover (`x.cover`: the cache's
 * stale copy under stale-if-error) has it consulted first, after the sender's own retries, for an
 * error head (5xx, discarded before the commit), a send without an answer (timeout, no
 * connection), an open breaker and a backend without an endpoint to send to.
 */
import { POLICY_SECTIONS, kindFeature, sectionFeature, type RouteIR } from '@jarvis/api';
import type { Clock } from '../clock.js';
import { sendProblem } from '../observe/problem.js';
import type { ErrorKind, Exchange } from '../pipeline/exchange.js';
import { endExchange } from '../pipeline/runner.js';
import { ANSWERED, TAKEN, type Stage, type Verdict } from '../pipeline/stage.js';
import type { CallError, CallOptions, UpstreamCall } from './call.js';
import type { BackendSender, SendOptions, SendOwner, SendResult } from './send.js';
import type { Backend } from './upstreams.js';

/** The 413 answer to a body over `limit` bytes. */
export function sendBodyTooLarge(x: Exchange, limit: number): void {
  x.status = 413;
  x.error = 'body-too-large';
  sendProblem(
    x.res,
    413,
    'body-too-large',
    'Request body too large',
    `The body may be at most ${limit} bytes.`,
    undefined,
    x.responseHeaders,
  );
}

/**
 * When the upstream send must end: the route's request timeout (`requestMs` from the exchange's
 * start) or the queue's deadline (QueuePolicy), whichever comes first; Infinity for neither. The
 * sender tells the upstream the queue's deadline (x-jarvis-deadline). A queue deadline that passed
 * since the request was admitted (a stalled event loop) is not sent at all: the client has its 504
 * and the result is undefined.
 */
export function sendBy(x: Exchange, requestMs: number | undefined, stopwatch: Clock): number | undefined {
  const deadline = requestMs === undefined ? Infinity : x.startedAt + requestMs;
  if (x.deadline <= 0) return deadline;
  if (x.deadline <= stopwatch.now()) {
    x.req.resume();
    x.status = 504;
    x.error = 'timeout';
    sendProblem(
      x.res,
      504,
      'deadline-exceeded',
      'Deadline exceeded',
      'The deadline of the request passed before it could be sent.',
      undefined,
      x.responseHeaders,
    );
    return undefined;
  }
  return Math.min(deadline, x.deadline);
}

/**
 * Ends an exchange whose upstream call failed before anything was committed, or cut short a
 * committed one: the client gets a problem when it is still there and has no answer yet.
 */
export function answerCallError(x: Exchange, call: UpstreamCall, err: CallError, options: CallOptions): void {
  const { res } = x;
  switch (err.kind) {
    case 'client-gone':
      res.destroy();
      x.status = 499;
      x.error = 'client-gone';
      return;
    case 'body-too-large':
      if (!res.headersSent) return sendBodyTooLarge(x, options.maxBodyBytes);
      break;
    case 'client-slow':
      x.status = 408;
      x.error = 'client-slow';
      if (!res.headersSent)
        sendProblem(res, 408, 'request-timeout', 'Request body too slow', 'The request body paused too long.', undefined, {
          ...x.responseHeaders,
          connection: 'close',
        });
      else res.destroy();
      return;
    case 'timeout':
      if (!res.headersSent) {
        x.status = 504;
        x.error = 'timeout';
        sendProblem(
          res,
          504,
          'upstream-timeout',
          'Upstream timed out',
          'The backend did not answer in time.',
          undefined,
          x.responseHeaders,
        );
        return;
      }
      break;
    case 'connect':
    case 'discarded':
      if (!res.headersSent) {
        x.status = 502;
        x.error = 'connect';
        sendProblem(
          res,
          502,
          'upstream-unavailable',
          'Upstream unavailable',
          'The backend could not be reached.',
          undefined,
          x.responseHeaders,
        );
        return;
      }
      break;
    case 'upstream-reset':
      break;
  }
  // The answer had started: the client can only learn of the failure by the connection closing.
  res.destroy(err.cause);
  x.status = call.status;
  x.error = err.kind === 'timeout' ? 'timeout' : 'upstream-reset';
}

/**
 * What the proxy stage enforces of a backend's CircuitBreakerPolicy, through the backend sender
 * and the backends' guards: every section.
 */
export const PROXY_FEATURES: readonly string[] = [
  kindFeature('CircuitBreakerPolicy'),
  ...POLICY_SECTIONS.CircuitBreakerPolicy.map((s) => sectionFeature('CircuitBreakerPolicy', s)),
];

/**
 * Failures the exchange's cover may answer instead: an error head it asked to discard, or no
 * answer at all (timeout, no connection) — not the client's own doing (gone, body too large) and
 * not a break after the commit.
 */
export function coveredOutcome(result: SendResult): { readonly status: number; readonly error: ErrorKind | undefined } | undefined {
  switch (result.kind) {
    case 'discarded':
      return { status: result.status, error: undefined };
    case 'failed':
      return result.error.kind === 'timeout' || result.error.kind === 'connect' || result.error.kind === 'upstream-reset'
        ? { status: 0, error: result.error.kind }
        : undefined;
    case 'breaker-open':
      return { status: 503, error: 'breaker-open' };
    case 'no-endpoint':
      return { status: 503, error: undefined };
    case 'deadline':
      return { status: 0, error: 'timeout' };
    case 'answered':
      return undefined;
  }
}

export interface ProxyStageDeps {
  readonly backends: ReadonlyMap<string, Backend>;
  readonly call: CallOptions;
  readonly random: () => number;
  readonly sender: BackendSender;
}

/** The 503 of a backend whose breaker is open: fail fast, with when to try again. */
export function sendBreakerOpen(x: Exchange, backendId: string, retryAfterMs: number): void {
  x.status = 503;
  x.error = 'breaker-open';
  sendProblem(
    x.res,
    503,
    'circuit-open',
    'Backend unavailable',
    `Backend ${backendId} is failing: its circuit breaker is open.`,
    { backend: backendId },
    { ...x.responseHeaders, 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
}

/** The 503 of a backend without an endpoint to send to. */
export function sendNoEndpoint(x: Exchange, backendId: string): void {
  x.status = 503;
  sendProblem(
    x.res,
    503,
    'no-healthy-upstream',
    'No healthy upstream',
    `Backend ${backendId} has no ready endpoint.`,
    undefined,
    x.responseHeaders,
  );
}

/** The 504 of a request whose time (the route's timeouts.request) ran out. */
export function sendDeadline(x: Exchange): void {
  x.status = 504;
  x.error = 'timeout';
  sendProblem(x.res, 504, 'upstream-timeout', 'Upstream timed out', 'The request timed out.', undefined, x.responseHeaders);
}

/** Answers a send's result that wrote nothing to the client yet (or cuts a committed answer that broke off). */
export function answerSendResult(x: Exchange, backendId: string, result: SendResult, options: CallOptions): void {
  switch (result.kind) {
    case 'answered':
      if (result.error) answerCallError(x, result.call, result.error, options);
      return;
    case 'failed':
      return answerCallError(x, result.call, result.error, options);
    case 'discarded':
      x.status = 502;
      x.error = 'connect';
      sendProblem(
        x.res,
        502,
        'upstream-unavailable',
        'Upstream unavailable',
        'The backend could not be reached.',
        undefined,
        x.responseHeaders,
      );
      return;
    case 'breaker-open':
      return sendBreakerOpen(x, backendId, result.retryAfterMs);
    case 'no-endpoint':
      return sendNoEndpoint(x, backendId);
    case 'deadline':
      return sendDeadline(x);
  }
}

/** Sends to a backend of the route (send.ts: breaker, endpoint, retries) and commits what it answers. */
export class ProxyStage implements Stage, SendOwner {
  readonly name = 'proxy';
  readonly #picks: readonly { readonly backend: Backend | undefined; readonly weight: number }[];
  readonly #total: number;
  readonly #single: Backend | undefined;
  readonly #requestMs: number | undefined;
  readonly #options: SendOptions;

  constructor(
    route: RouteIR,
    private readonly deps: ProxyStageDeps,
  ) {
    const weighted = route.backends.filter((b) => b.weight > 0);
    this.#picks = weighted.map((b) => ({ backend: deps.backends.get(b.backend), weight: b.weight }));
    this.#total = weighted.reduce((n, b) => n + b.weight, 0) + route.unresolvedWeight;
    this.#single = this.#picks.length === 1 && route.unresolvedWeight === 0 ? this.#picks[0]?.backend : undefined;
    this.#requestMs = route.timeouts?.requestMs;
    this.#options = { deadline: Infinity, perTryTimeoutMs: route.timeouts?.backendRequestMs };
  }

  /** A backend by weight; undefined: this request gets the unresolved share (500). */
  pickBackend(): Backend | undefined {
    if (this.#single) return this.#single;
    if (this.#total === 0) return undefined;
    let r = this.deps.random() * this.#total;
    for (const p of this.#picks) {
      r -= p.weight;
      if (r < 0) return p.backend;
    }
    return undefined;
  }

  enter(x: Exchange): Verdict {
    const { req, res } = x;
    const backend = this.pickBackend();
    if (!backend) {
      req.resume();
      x.status = 500;
      sendProblem(res, 500, 'no-backend', 'No backend', 'The route has no usable backend.', undefined, x.responseHeaders);
      return ANSWERED;
    }
    const options = this.deps.call;
    if (x.body === undefined && Number(req.headers['content-length'] ?? 0) > options.maxBodyBytes) {
      req.resume();
      sendBodyTooLarge(x, options.maxBodyBytes);
      return ANSWERED;
    }
    x.backend = backend.id;
    const deadline = sendBy(x, this.#requestMs, this.deps.sender.deps.stopwatch);
    if (deadline === undefined) return ANSWERED;
    this.deps.sender.send(x, backend, this, deadline === Infinity ? this.#options : { ...this.#options, deadline });
    return TAKEN;
  }

  /** Commits every head but an error one that the exchange's cover (stale-if-error) answers instead. */
  accept(x: Exchange, status: number): boolean {
    return !(status >= 500 && x.cover?.covers(status));
  }

  done(x: Exchange, result: SendResult): void {
    if (result.kind !== 'answered') x.req.resume();
    const covered = x.cover ? coveredOutcome(result) : undefined;
    if (covered && x.cover?.answer(x)) {
      // The client got the cover's answer; what the upstream did is kept for the metrics.
      x.covered = covered;
    } else answerSendResult(x, x.backend ?? '', result, this.deps.call);
    endExchange(x);
  }
}
