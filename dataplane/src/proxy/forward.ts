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

/** Request headers for the upstream: hop-by-hop removed (including those named by Connection). */
export function upstreamHeaders(
  headers: IncomingHttpHeaders,
  clientIp: string,
  extra?: Readonly<Record<string, string>>,
): Record<string, string | string[]> {
  const named = headers.connection
    ? String(headers.connection)
        .toLowerCase()
        .split(',')
        .map((s) => s.trim())
    : [];
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.includes(name)) continue;
    out[name] = value;
  }
  const xff = headers['x-forwarded-for'];
  out['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${clientIp}` : clientIp;
  if (extra) Object.assign(out, extra);
  return out;
}

function responseHeaders(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  extra?: OutgoingHttpHeaders,
): OutgoingHttpHeaders {
  const connection = headers['connection'];
  const named = connection
    ? String(connection)
        .toLowerCase()
        .split(',')
        .map((s) => s.trim())
    : [];
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.includes(name)) continue;
    out[name] = value;
  }
  if (extra) Object.assign(out, extra);
  return out;
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

export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  pool: Pool,
  path: string,
  headers: Record<string, string | string[]>,
  options: ForwardOptions,
  extraResponseHeaders?: OutgoingHttpHeaders,
): Promise<ForwardResult> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > options.maxBodyBytes) {
    req.resume();
    sendProblem(res, 413, 'body-too-large', 'Request body too large', `The body may be at most ${options.maxBodyBytes} bytes.`);
    return Promise.resolve({ status: 413, error: 'body-too-large' });
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && (declared > 0 || req.headers['transfer-encoding'] !== undefined);
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.on('close', onClose);
  const body = hasBody ? req.pipe(new BodyLimit(options.maxBodyBytes)) : null;
  let status = 0;
  return pool
    .stream(
      {
        method: req.method as Dispatcher.HttpMethod,
        path,
        headers,
        body,
        signal: abort.signal,
        headersTimeout: options.headersTimeoutMs,
        bodyTimeout: options.bodyTimeoutMs,
      },
      ({ statusCode, headers: upstream }) => {
        status = statusCode;
        res.writeHead(statusCode, responseHeaders(upstream, extraResponseHeaders));
        // An event stream's client should see the headers before the first event; other
        // responses send headers with the first body chunk (one write instead of two).
        const type = upstream['content-type'];
        if (typeof type === 'string' && type.startsWith('text/event-stream')) res.flushHeaders();
        return res;
      },
    )
    .then(
      (): ForwardResult => ({ status }),
      (err: unknown): ForwardResult => {
        if (abort.signal.aborted) return { status: 499, error: 'client-gone' };
        const tooLarge = err instanceof PayloadTooLarge || (err instanceof Error && err.cause instanceof PayloadTooLarge);
        if (res.headersSent) {
          res.destroy(err instanceof Error ? err : undefined);
          return { status, error: 'upstream-unavailable' };
        }
        if (tooLarge) {
          sendProblem(res, 413, 'body-too-large', 'Request body too large', `The body may be at most ${options.maxBodyBytes} bytes.`);
          return { status: 413, error: 'body-too-large' };
        }
        if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
          sendProblem(res, 504, 'upstream-timeout', 'Upstream timed out', 'The backend did not answer in time.');
          return { status: 504, error: 'timeout' };
        }
        sendProblem(res, 502, 'upstream-unavailable', 'Upstream unavailable', 'The backend could not be reached.');
        return { status: 502, error: 'upstream-unavailable' };
      },
    )
    .finally(() => res.off('close', onClose));
}
