/**
 * Forwards one request to an upstream pool and streams the answer back: request and response
 * bodies flow through without buffering (an LLM's SSE stream reaches the client as it is
 * produced), hop-by-hop headers stay on their hop, a body over the limit is refused with 413,
 * upstream timeouts answer 504, and a client that goes away aborts the upstream call.
 */
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { errors, type Dispatcher, type Pool } from 'undici';
import { sendProblem } from '../observe/problem.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface ForwardOptions {
  readonly maxBodyBytes: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
}

/** The names a Connection header lists: hop-by-hop too (RFC 9110 §7.6.1). */
function connectionNamed(connection: string | string[] | undefined): string[] | undefined {
  // Nearly every request says just keep-alive, itself hop-by-hop already: nothing more to drop.
  if (connection === undefined || connection === 'keep-alive') return undefined;
  return String(connection)
    .toLowerCase()
    .split(',')
    .map((s) => s.trim());
}

/** The verified identity, as the upstream sees it. */
export const TENANT_HEADER = 'x-tenant-id';
export const USER_HEADER = 'x-user-id';

/** Copies the end-to-end headers: not hop-by-hop, not named by Connection, not in `skip`. */
function endToEnd(headers: IncomingHttpHeaders, out: OutgoingHttpHeaders, skip?: ReadonlySet<string>): void {
  const named = connectionNamed(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.includes(name) || skip?.has(name)) continue;
    out[name] = value;
  }
}

/** Identity headers: whatever the client sent in them never reaches the upstream. */
const IDENTITY_HEADERS: ReadonlySet<string> = new Set([TENANT_HEADER, USER_HEADER]);

/**
 * Request headers for the upstream: hop-by-hop removed (including those named by Connection), the
 * client appended to X-Forwarded-For, and the verified tenant and user in x-tenant-id and
 * x-user-id — whatever the client sent in those two is dropped, so an upstream can trust them.
 */
export function upstreamHeaders(
  headers: IncomingHttpHeaders,
  clientIp: string,
  tenant?: string,
  user?: string,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  endToEnd(headers, out, IDENTITY_HEADERS);
  const xff = headers['x-forwarded-for'];
  out['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${clientIp}` : clientIp;
  if (tenant !== undefined) out[TENANT_HEADER] = tenant;
  if (user !== undefined) out[USER_HEADER] = user;
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders, extra?: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  endToEnd(headers, out);
  if (extra) for (const name in extra) out[name] = extra[name];
  return out;
}

/** Whether the request carries a body (declared, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return false;
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

/** The 413 answer to a body over `limit` bytes. */
export function sendBodyTooLarge(res: ServerResponse, limit: number): void {
  sendProblem(res, 413, 'body-too-large', 'Request body too large', `The body may be at most ${limit} bytes.`);
}

class BodyLimit extends Transform {
  #seen = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.limit) done(new PayloadTooLarge(this.limit));
    else done(null, chunk);
  }
}

export class PayloadTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

export interface ForwardResult {
  readonly status: number;
  /** Why the proxy answered itself, if it did. */
  readonly error?: 'body-too-large' | 'timeout' | 'upstream-unavailable' | 'client-gone';
}

/** Why an upstream call was cut short by our side. */
class ClientGone extends Error {
  constructor() {
    super('the client went away');
  }
}

/**
 * One upstream exchange as an undici dispatch handler: the response is written to `res` as it
 * arrives, the upstream is paused while `res` cannot take more (backpressure) and aborted when the
 * client goes away, before or after the upstream answered. Lighter than `Pool.stream`: no
 * AbortSignal and no intermediate stream per request.
 */
class Exchange implements Dispatcher.DispatchHandler {
  status = 0;
  #controller: Dispatcher.DispatchController | undefined;
  #clientGone = false;
  #draining = false;
  readonly #onClose = (): void => {
    if (this.res.writableFinished) return;
    this.#clientGone = true;
    this.#controller?.abort(new ClientGone());
  };
  readonly #onDrain = (): void => {
    this.#draining = false;
    this.#controller?.resume();
  };

  constructor(
    readonly res: ServerResponse,
    readonly extraHeaders: OutgoingHttpHeaders | undefined,
    readonly done: (err: Error | undefined) => void,
  ) {
    res.on('close', this.#onClose);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#clientGone) controller.abort(new ClientGone());
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx: informational, the final answer follows
    this.status = statusCode;
    this.res.writeHead(statusCode, responseHeaders(headers, this.extraHeaders));
    // An event stream's client should see the headers before the first event; other responses
    // send headers with the first body chunk (one write instead of two).
    const type = headers['content-type'];
    if (typeof type === 'string' && type.startsWith('text/event-stream')) this.res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk) && !this.#draining) {
      this.#draining = true;
      controller.pause();
      this.res.once('drain', this.#onDrain);
    }
  }

  onResponseEnd(): void {
    this.res.end();
    this.#finish(undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.#finish(this.#clientGone ? new ClientGone() : error);
  }

  #finish(err: Error | undefined): void {
    this.res.off('close', this.#onClose);
    if (this.#draining) this.res.off('drain', this.#onDrain);
    this.done(err);
  }
}

/**
 * Forwards `req` to `pool` and answers `res`; `done` is called once, when the exchange is over
 * (a callback rather than a promise: this is every request's last step).
 */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  pool: Pool,
  path: string,
  headers: Record<string, string | string[]>,
  options: ForwardOptions,
  extraResponseHeaders: OutgoingHttpHeaders | undefined,
  /** The body, already read (a route that inspects bodies); otherwise it streams from `req`. */
  buffered: Buffer | undefined,
  done: (result: ForwardResult) => void,
): void {
  if (buffered === undefined && Number(req.headers['content-length'] ?? 0) > options.maxBodyBytes) {
    req.resume();
    sendBodyTooLarge(res, options.maxBodyBytes);
    done({ status: 413, error: 'body-too-large' });
    return;
  }
  let body: Dispatcher.DispatchOptions['body'] = null;
  if (buffered !== undefined) {
    body = buffered;
    headers['content-length'] = String(buffered.length); // it may have come chunked
  } else if (hasBody(req)) body = req.pipe(new BodyLimit(options.maxBodyBytes));
  const exchange = new Exchange(res, extraResponseHeaders, (err) => {
    done(err === undefined ? { status: exchange.status } : failed(res, err, exchange.status, options));
  });
  pool.dispatch(
    {
      method: req.method as Dispatcher.HttpMethod,
      path,
      headers,
      body,
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
    },
    exchange,
  );
}

/** The answer to a failed exchange: the client's, if it is still there and has none yet. */
function failed(res: ServerResponse, err: Error, status: number, options: ForwardOptions): ForwardResult {
  if (err instanceof ClientGone) {
    res.destroy();
    return { status: 499, error: 'client-gone' };
  }
  if (res.headersSent) {
    res.destroy(err);
    return { status, error: 'upstream-unavailable' };
  }
  const tooLarge = err instanceof PayloadTooLarge || err.cause instanceof PayloadTooLarge;
  if (tooLarge) {
    sendBodyTooLarge(res, options.maxBodyBytes);
    return { status: 413, error: 'body-too-large' };
  }
  if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
    sendProblem(res, 504, 'upstream-timeout', 'Upstream timed out', 'The backend did not answer in time.');
    return { status: 504, error: 'timeout' };
  }
  sendProblem(res, 502, 'upstream-unavailable', 'Upstream unavailable', 'The backend could not be reached.');
  return { status: 502, error: 'upstream-unavailable' };
}
