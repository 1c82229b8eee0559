/**
 * One upstream call, in two steps that a stage can tell apart:
 *
 * - dispatch: connect, send the request, receive the upstream's status and headers;
 * - commit: write that head to the client and stream the body as it arrives (an LLM's SSE stream
 *   reaches the client as it is produced, with backpressure both ways).
 *
 * Between the two, the call's owner (the terminal stage) sees the head and decides: commit it, or
 * discard it — the client has seen nothing (a short declared body is read and dropped, keeping
 * the connection; any other call is aborted), and the owner may try elsewhere (a retry, the next
 * step of a fallback chain). Failures before a commit are reported, never
 * answered, here: answering is the owner's choice too. A client that goes away aborts the call.
 *
 * The call is an undici dispatch handler (no AbortSignal, no intermediate stream per request) of
 * the interface undici's HTTP/1 client calls natively (onConnect, onHeaders with the raw head,
 * onData, onComplete, onError): the newer controller interface wraps every request in two more
 * objects and parses every head into an object, which a proxy that passes the head through does
 * not need (the head is parsed only when something asks for it: `head.headers`). undici marks that
 * interface deprecated; it is the one its client implements, and the version is pinned.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { errors, type Dispatcher, type Pool } from 'undici';
import type { Clock } from '../clock.js';
import type { ErrorKind, Exchange } from '../pipeline/exchange.js';
import { UpstreamHead, clientHead } from './headers.js';
import type { CallLimits, CallWatch, WatchedCall } from './watch.js';

/**
 * How a call ended without a complete committed answer: an exchange's error kinds that an
 * upstream call can cause (see ErrorKind), or the owner discarded the head.
 */
export type CallErrorKind =
  Extract<ErrorKind, 'client-gone' | 'timeout' | 'connect' | 'upstream-reset' | 'body-too-large' | 'client-slow'> | 'discarded';

export interface CallError {
  readonly kind: CallErrorKind;
  readonly cause: Error;
  /**
   * Whether the request had started to go out on a connection. false: it never reached the
   * upstream (the connection was refused or could not be made, or the call timed out waiting for
   * one), so it can be sent elsewhere whatever its method.
   */
  readonly sent: boolean;
}

export interface CallOwner {
  /**
   * The upstream's final head arrived (1xx heads are skipped; `call.head` and `call.header()`
   * read it). Return true to commit it to the client now, false to discard it (the call is
   * aborted; `end` follows with `discarded`).
   */
  head(call: UpstreamCall, status: number): boolean;
  /** The call is over: `error` is undefined when a committed answer reached the client completely. */
  end(call: UpstreamCall, error: CallError | undefined): void;
}

export interface CallOptions extends CallLimits {
  readonly maxBodyBytes: number;
  /** A request body that streams (too large to buffer) may pause at most this long between chunks (ms). */
  readonly requestBodyIdleMs?: number;
}

export interface CallRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  /** A body read before (buffered or inspected), or undefined to stream the client's body. */
  readonly body: Buffer | undefined;
  /** The part of a body too large to buffer that was read already: sent first, then the rest streams. */
  readonly prefix?: readonly Buffer[] | undefined;
  /** Whether the client's request has a body to stream (ignored when `body` is given). */
  readonly streamBody: boolean;
}

export class PayloadTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

/**
 * Counts a streamed request body and fails it past the limit. `onFirstRead` runs when the upstream
 * call first reads (once it has a connection): the client's body is only piped in then, so a call
 * that never got a connection leaves it untouched for another try.
 */
class BodyLimit extends Transform {
  #seen = 0;
  #started = false;
  /** Runs for each chunk on its way to the upstream (the call's progress). */
  onChunk: (() => void) | undefined = undefined;
  constructor(
    private readonly limit: number,
    private readonly onFirstRead: (self: BodyLimit) => void,
  ) {
    super();
  }
  /** Whether the client's body has started to flow into the call. */
  get started(): boolean {
    return this.#started;
  }
  override _read(size: number): void {
    if (!this.#started) {
      this.#started = true;
      this.onFirstRead(this);
    }
    super._read(size);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#seen += chunk.length;
    this.onChunk?.();
    if (this.#seen > this.limit) done(new PayloadTooLarge(this.limit));
    else done(null, chunk);
  }
}

class ClientGone extends Error {
  constructor() {
    super('the client went away');
  }
}

class Discarded extends Error {
  constructor() {
    super('the answer was discarded');
  }
}

/**
 * A discarded answer whose body is declared this long at most is read and dropped, so that its
 * connection stays open for the next request (a failing tier's short 503 costs no new
 * connection); a longer or undeclared body is cut off, and the connection with it.
 */
const DRAIN_MAX_BYTES = 64 * 1024;

function drainable(call: UpstreamCall): boolean {
  const declared = call.header('content-length');
  if (declared === undefined) return false;
  const length = Number(declared);
  return Number.isInteger(length) && length >= 0 && length <= DRAIN_MAX_BYTES;
}

const NO_HEAD = new UpstreamHead([]);

/** The owner's time limit for the call (a per-try or the whole request's timeout) ran out. */
export class CallTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no complete answer within ${Math.round(ms)} ms`);
  }
}

/** The upstream was silent for longer than --upstream-headers-timeout (before its head) or --upstream-body-timeout (between body chunks). */
export class UpstreamTimeout extends Error {
  constructor(
    readonly phase: 'headers' | 'body',
    readonly ms: number,
  ) {
    super(phase === 'headers' ? `no response head within ${ms} ms` : `no body chunk within ${ms} ms`);
  }
}

function errorKind(err: Error, committed: boolean): CallErrorKind {
  if (err instanceof ClientGone) return 'client-gone';
  if (err instanceof Discarded) return 'discarded';
  if (err instanceof PayloadTooLarge || err.cause instanceof PayloadTooLarge) return 'body-too-large';
  if (err instanceof RequestBodyStalled || err.cause instanceof RequestBodyStalled) return 'client-slow';
  if (
    err instanceof CallTimeout ||
    err instanceof UpstreamTimeout ||
    err instanceof errors.HeadersTimeoutError ||
    err instanceof errors.BodyTimeoutError ||
    err instanceof errors.ConnectTimeoutError
  )
    return 'timeout';
  return committed ? 'upstream-reset' : 'connect';
}

export class UpstreamCall implements Dispatcher.DispatchHandler, WatchedCall {
  /** The upstream's status, once its head arrived. */
  status = 0;
  /** Counts the call's events for the timeouts' watch (watch.ts). */
  progress = 0;
  watchedProgress = 0;
  quietSince = 0;
  watched = false;
  older: WatchedCall | undefined = undefined;
  newer: WatchedCall | undefined = undefined;
  committed = false;
  /** Stopwatch readings: dispatched, head arrived, ended. */
  readonly startedAt: number;
  headAt = 0;
  endedAt = 0;
  /** undici's abort of the request, once it has a connection (onConnect). */
  #abort: ((err: Error) => void) | undefined;
  /** Resumes a paused response (given with the head). */
  #resume: (() => void) | undefined;
  /** Set by abort() before the request had a connection: applied by onConnect. */
  #aborted: Error | undefined;
  /** The request was aborted once (undici's abort is called once at most). */
  #abortSent = false;
  /** The final head as received. */
  #head = NO_HEAD;
  /** The streamed body, when the client's body streams. */
  #body: BodyLimit | undefined;
  #clientGone = false;
  #draining = false;
  /** The owner discarded the head and its short body is being read to keep the connection. */
  #discarding = false;
  #over = false;
  readonly #onClose = (): void => {
    if (this.x.res.writableFinished) return;
    this.#clientGone = true;
    this.#abortRequest(new ClientGone());
  };
  readonly #onDrain = (): void => {
    this.#draining = false;
    this.progress++;
    this.#resume?.();
  };

  constructor(
    readonly x: Exchange,
    readonly origin: string,
    private readonly owner: CallOwner,
    private readonly stopwatch: Clock,
    /** Keeps the headers and body timeouts once the request is on a connection. */
    private readonly watch: CallWatch,
  ) {
    this.startedAt = stopwatch.now();
    x.res.on('close', this.#onClose);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    this.#abortSent = false;
    this.progress++;
    if (this.#clientGone) this.#abortRequest(new ClientGone());
    else if (this.#aborted) this.#abortRequest(this.#aborted);
    else if (!this.#over) this.watch.add(this);
  }

  /** The timeout of the call's phase (watch.ts): none while its client is slow to read. */
  quietLimitMs(limits: CallLimits): number {
    if (this.#draining) return 0;
    return this.status === 0 ? limits.headersTimeoutMs : limits.bodyTimeoutMs;
  }

  timedOut(limitMs: number): void {
    this.abort(new UpstreamTimeout(this.status === 0 ? 'headers' : 'body', limitMs));
  }

  #abortRequest(err: Error): void {
    const abort = this.#abort;
    if (abort === undefined || this.#abortSent) return;
    this.#abortSent = true;
    abort(err);
  }

  /** Whether the client's streamed body has started to flow into this call (it cannot be sent again). */
  get bodyStarted(): boolean {
    return this.#body?.started ?? false;
  }

  /** The upstream's final head (empty until it arrived). */
  get head(): UpstreamHead {
    return this.#head;
  }

  /** A header of the upstream's final head by its name (repeated ones joined with `, `). */
  header(name: string): string | undefined {
    return this.#head.header(name);
  }

  /**
   * Ends the call now with `err` (a CallTimeout: kind timeout). A call still waiting for a
   * connection ends at once, reported as not sent; its request is dropped when the connection comes.
   */
  abort(err: Error): void {
    if (this.#over) return;
    if (this.#abort) {
      this.#abortRequest(err);
      return;
    }
    this.#aborted = err;
    this.#finish({ kind: errorKind(err, false), cause: err, sent: false });
  }

  /** Attaches the streamed body (dispatchCall). */
  setBody(body: BodyLimit): void {
    this.#body = body;
    body.onChunk = () => void this.progress++;
  }

  /** A head (false pauses the response until `resume`). */
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.progress++;
    if (statusCode < 200) return true; // 1xx: informational, the final answer follows
    this.status = statusCode;
    this.headAt = this.stopwatch.now();
    this.#head = new UpstreamHead(rawHeaders);
    this.#resume = resume;
    if (!this.owner.head(this, statusCode)) {
      if (drainable(this)) this.#discarding = true;
      else this.#abortRequest(new Discarded());
      return true;
    }
    this.commit();
    return true;
  }

  /** Writes the head to the client (with the exchange's response headers) and lets the body flow. */
  private commit(): void {
    const x = this.x;
    this.committed = true;
    x.res.writeHead(this.status, clientHead(this.#head, x.responseHeaders));
    // An event stream's client should see the headers before the first event; other responses
    // send headers with the first body chunk (one write instead of two).
    const type = this.header('content-type');
    if (type !== undefined && type.startsWith('text/event-stream')) x.res.flushHeaders();
    if (x.taps) for (const t of x.taps) t.head?.(this.status, this.#head);
  }

  /** A chunk of the body (false pauses the response until the client drains). */
  onData(chunk: Buffer): boolean {
    this.progress++;
    if (!this.committed) return true;
    const taps = this.x.taps;
    if (taps) for (const t of taps) t.data?.(chunk);
    if (this.x.res.write(chunk)) return true;
    if (!this.#draining) {
      this.#draining = true;
      this.x.res.once('drain', this.#onDrain);
    }
    return false;
  }

  onComplete(): void {
    if (this.#discarding) return this.#finish({ kind: 'discarded', cause: new Discarded(), sent: true });
    if (!this.committed) return this.#finish(undefined); // cannot happen: an uncommitted call is aborted or discarding
    this.x.res.end();
    const taps = this.x.taps;
    if (taps) for (const t of taps) t.end?.();
    this.#finish(undefined);
  }

  onError(error: Error): void {
    const cause = this.#clientGone ? new ClientGone() : error;
    if (this.#discarding && !(cause instanceof ClientGone)) return this.#finish({ kind: 'discarded', cause, sent: true });
    this.#finish({ kind: errorKind(cause, this.committed), cause, sent: this.#abort !== undefined });
  }

  #finish(err: CallError | undefined): void {
    if (this.#over) return;
    this.#over = true;
    this.watch.delete(this);
    this.endedAt = this.stopwatch.now();
    this.x.res.off('close', this.#onClose);
    if (this.#draining) this.x.res.off('drain', this.#onDrain);
    this.owner.end(this, err);
  }
}

/**
 * The client's body as it streams: over the size limit it fails (413), and while it streams the
 * client may pause at most `requestBodyIdleMs` between chunks (then the request is cut off), so a
 * trickling client cannot hold an upstream connection for long.
 */
function streamedBody(x: Exchange, prefix: readonly Buffer[] | undefined, options: CallOptions): BodyLimit {
  return new BodyLimit(options.maxBodyBytes, (limit) => {
    if (prefix) for (const chunk of prefix) limit.write(chunk);
    const { req } = x;
    const idle = options.requestBodyIdleMs;
    if (idle !== undefined && idle > 0 && !req.complete) {
      const socket = req.socket;
      const onIdle = (): void => {
        limit.destroy(new RequestBodyStalled(idle));
      };
      socket.setTimeout(idle, onIdle);
      const done = (): void => {
        socket.setTimeout(0);
        socket.off('timeout', onIdle);
      };
      req.once('end', done);
      req.once('close', done);
    }
    x.expectContinue();
    req.pipe(limit);
  });
}

export class RequestBodyStalled extends Error {
  constructor(readonly idleMs: number) {
    super(`the request body paused for more than ${idleMs} ms`);
  }
}

/** Starts a call to `pool` for the exchange; its owner hears about the head and the end. */
export function dispatchCall(
  x: Exchange,
  pool: Pool,
  origin: string,
  request: CallRequest,
  options: CallOptions,
  owner: CallOwner,
  stopwatch: Clock,
  watch: CallWatch,
): UpstreamCall {
  let body: Dispatcher.DispatchOptions['body'] = null;
  const headers = request.headers;
  if (request.body !== undefined) {
    body = request.body;
    headers['content-length'] = String(request.body.length); // it may have come chunked
  }
  const call = new UpstreamCall(x, origin, owner, stopwatch, watch);
  if (request.body === undefined && request.streamBody) {
    const streamed = streamedBody(x, request.prefix, options);
    call.setBody(streamed);
    body = streamed;
  }
  x.attempts++;
  pool.dispatch(
    {
      method: request.method as Dispatcher.HttpMethod,
      path: request.path,
      headers,
      body,
      // The call's watch keeps both (watch.ts).
      headersTimeout: 0,
      bodyTimeout: 0,
    },
    call,
  );
  return call;
}
