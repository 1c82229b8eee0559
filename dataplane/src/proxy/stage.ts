/**
 * The terminal stage of every route: picks a backend by weight and a ready endpoint of it, sends
 * the request there and commits the upstream's answer to the client. Failures before the answer
 * started are answered here with a problem: 413 for a body over the limit, 504 for a timeout, 502
 * when the upstream could not be reached; a route without a usable backend answers 500 (Gateway
 * API), a backend without a ready endpoint 503. An exchange with a cover (`x.cover`: the cache's
 * stale copy under stale-if-error) has it consulted first for an error head (5xx, discarded
 * before the commit), a call without an answer, and a backend without a ready endpoint.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteIR } from '@jarvis/api';
import type { Clock } from '../clock.js';
import { sendProblem } from '../observe/problem.js';
import type { Exchange } from '../pipeline/exchange.js';
import { endExchange } from '../pipeline/runner.js';
import { ANSWERED, TAKEN, type Stage, type Verdict } from '../pipeline/stage.js';
import { dispatchCall, type CallError, type CallOptions, type CallOwner, type UpstreamCall } from './call.js';
import { upstreamHeaders, type HeaderPolicy } from './headers.js';
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
 * Failures the exchange's cover may answer instead: an error head it asked to discard, or no
 * answer at all (timeout, no connection) — not the client's own doing (gone, body too large) and
 * not a break after the commit.
 */
function coverable(error: CallError, call: UpstreamCall): boolean {
  if (call.committed) return false;
  return error.kind === 'discarded' || error.kind === 'timeout' || error.kind === 'connect';
}

export interface ProxyStageDeps {
  readonly backends: ReadonlyMap<string, Backend>;
  readonly call: CallOptions;
  readonly headers: HeaderPolicy;
  readonly stopwatch: Clock;
  readonly random: () => number;
}

/** Sends to a backend of the route and commits whatever it answers. */
export class ProxyStage implements Stage, CallOwner {
  readonly name = 'proxy';
  readonly #picks: readonly { readonly backend: Backend | undefined; readonly weight: number }[];
  readonly #total: number;
  readonly #single: Backend | undefined;

  constructor(
    route: RouteIR,
    private readonly deps: ProxyStageDeps,
  ) {
    const weighted = route.backends.filter((b) => b.weight > 0);
    this.#picks = weighted.map((b) => ({ backend: deps.backends.get(b.backend), weight: b.weight }));
    this.#total = weighted.reduce((n, b) => n + b.weight, 0) + route.unresolvedWeight;
    this.#single = this.#picks.length === 1 && route.unresolvedWeight === 0 ? this.#picks[0]?.backend : undefined;
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
    const endpoint = backend?.pick();
    if (!endpoint) {
      req.resume();
      if (backend && x.cover?.covers(503) && x.cover.answer(x)) return ANSWERED;
      x.status = backend ? 503 : 500;
      sendProblem(
        res,
        x.status,
        backend ? 'no-healthy-upstream' : 'no-backend',
        backend ? 'No healthy upstream' : 'No backend',
        backend ? `Backend ${backend.id} has no ready endpoint.` : 'The route has no usable backend.',
        undefined,
        x.responseHeaders,
      );
      return ANSWERED;
    }
    const options = this.deps.call;
    if (x.body === undefined && Number(req.headers['content-length'] ?? 0) > options.maxBodyBytes) {
      req.resume();
      sendBodyTooLarge(x, options.maxBodyBytes);
      return ANSWERED;
    }
    x.backend = backend?.id;
    x.endpoint = endpoint.origin;
    dispatchCall(
      x,
      endpoint.pool,
      endpoint.origin,
      {
        method: x.method,
        path: x.url,
        headers: upstreamHeaders(req.headers, x, this.deps.headers),
        body: x.body,
        prefix: x.bodyPrefix,
        streamBody: x.hasBody,
      },
      options,
      this,
      this.deps.stopwatch,
    );
    return TAKEN;
  }

  /** Commits every head but an error one that the exchange's cover (stale-if-error) answers instead. */
  head(call: UpstreamCall, status: number, _headers: IncomingHttpHeaders): boolean {
    return !(status >= 500 && call.x.cover?.covers(status));
  }

  end(call: UpstreamCall, error: CallError | undefined): void {
    const x = call.x;
    x.upstreamStart = call.startedAt;
    x.upstreamHead = call.headAt;
    x.upstreamEnd = call.endedAt;
    if (error === undefined) x.status = call.status;
    else if (coverable(error, call) && x.cover?.answer(x)) {
      // The client got the cover's answer; what the upstream did is kept for metrics and breakers.
      x.covered = error.kind === 'discarded' ? { status: call.status, error: undefined } : { status: 0, error: error.kind };
    } else answerCallError(x, call, error, this.deps.call);
    endExchange(x);
  }
}
