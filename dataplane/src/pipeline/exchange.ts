/**
 * One request as it walks its stages: the only per-request record of the request path. It is
 * the request line the route matcher reads and the request the rate limiter reads (no copies),
 * what stages leave for the stages after them (identity, body, hot values, response headers),
 * and, once the exchange is over, its outcome for every stage's `leave`.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { IdentifyRequest, Identity } from '../identify/index.js';
import type { LlmFacts } from '../inspect/index.js';
import type { DeadLetterHandle, QueueTicket } from '../policy/queue/index.js';
import type { CacheMiss } from '../policy/cache/index.js';
import type { LimitRequest } from '../policy/ratelimit/index.js';
import type { UpstreamHead } from '../proxy/headers.js';
import type { RequestLine } from '../route/matcher.js';
import { normalizePath } from '../route/path.js';
import type { CompiledGateway, CompiledRoute } from './compile.js';
import type { Stage } from './stage.js';

/** Why an exchange ended without an upstream answer, or how its upstream call failed. */
export type ErrorKind =
  /** The client went away before the answer was complete. */
  | 'client-gone'
  /** The upstream did not answer (headers or body) in time. */
  | 'timeout'
  /** No connection to the upstream (refused, reset or unreachable before an answer). */
  | 'connect'
  /** The upstream broke off after it had started answering. */
  | 'upstream-reset'
  /** The request body was over the limit. */
  | 'body-too-large'
  /** The backend's circuit breaker was open: failed fast, nothing sent (503). */
  | 'breaker-open'
  /** The client's request body did not arrive in time. */
  | 'client-slow'
  /** The gateway had no room for the request (e.g. its buffered-body budget was full). */
  | 'overloaded'
  /** The gateway failed (a bug): answered 500. */
  | 'internal';

/** Observes a committed upstream answer as it streams to the client (a cache store, a token counter). */
export interface ResponseTap {
  head?(status: number, head: UpstreamHead): void;
  data?(chunk: Buffer): void;
  /** The answer reached the client completely. */
  end?(): void;
}

/**
 * Offered an upstream failure before anything of it reached the client — an error head (status
 * ≥ 500), or a call that failed without an answer (status 0) — by the terminal stage, once it is
 * done trying: when `covers` says yes, the terminal stage discards the upstream's answer and
 * lets `answer` answer the client instead (the cache's stale-if-error). Set by a stage before it.
 */
export interface ErrorCover {
  /** Whether it would answer instead of an upstream answer with this status (0: none came). */
  covers(status: number): boolean;
  /** Answers the client itself (writes the whole answer, sets x.status); false when it no longer can. */
  answer(x: Exchange): boolean;
}

/** What the gateway does with every exchange that is over (metrics), or that failed in a stage. */
export interface ExchangeHooks {
  ended(x: Exchange): void;
  failed(x: Exchange, err: unknown): void;
}

/** A request that no route claimed yet has this route id in metrics and logs. */
export const NO_ROUTE = 'none';

const NO_HOT: readonly { parameter: string; value: string }[] = Object.freeze([]);
const NO_SERVICES: readonly string[] = Object.freeze([]);
const NO_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({});

function hostOf(req: IncomingMessage): string {
  const host = req.headers.host ?? '';
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  return (end > 0 ? host.slice(0, end) : host).toLowerCase();
}

export class Exchange implements RequestLine, LimitRequest, IdentifyRequest {
  // ── the request ──
  readonly method: string;
  /** The request target as forwarded: the normalized path and the query as received. */
  readonly url: string;
  /** The path without the query string, normalized (route/path.ts); '' when the target is not a valid path (400). */
  readonly path: string;
  /** The query string without `?`, or ''. */
  readonly query: string;
  /** Lower-cased host without port. */
  readonly host: string;
  /** The stopwatch reading when the request arrived (ms). */
  readonly startedAt: number;

  // ── what stages leave for later stages ──
  compiled: CompiledGateway | undefined = undefined;
  route: CompiledRoute | undefined = undefined;
  routeId = NO_ROUTE;
  serviceIds: readonly string[] = NO_SERVICES;
  clientIp = '';
  /** The direct peer, and whether it is a trusted proxy (identify stage). */
  peer = '';
  peerTrusted = false;
  user: string | undefined = undefined;
  tenant: string | undefined = undefined;
  claims: Readonly<Record<string, unknown>> = NO_CLAIMS;
  /** Hot parameter values flagged by the hot-key stage. */
  hot: readonly { parameter: string; value: string }[] = NO_HOT;
  /** The body, read before the upstream call (buffered or inspected): forwarded from here instead of streamed. */
  body: Buffer | undefined = undefined;
  /** The body parsed as JSON, by the inspect stage or the cache stage (for its key). */
  bodyJson: unknown = undefined;
  /** The start of a body too large to buffer, read already: sent first, then the rest streams. */
  bodyPrefix: readonly Buffer[] | undefined = undefined;
  /** Bytes of the gateway's body budget this exchange holds (released when it ends). */
  bodyReserved = 0;
  /** Whether `100 Continue` was sent (a client that sent `Expect: 100-continue` waits for it). */
  continued = false;
  /** What an OpenAI-compatible JSON body says (model, prompt hash, token estimate). */
  llm: LlmFacts | undefined = undefined;
  llmTokens: { readonly input: number; readonly output: number } | undefined = undefined;
  /** Headers added to whatever answer the client gets (e.g. RateLimit). */
  responseHeaders: OutgoingHttpHeaders | undefined = undefined;
  /**
   * Request headers the gateway itself tells the upstream (e.g. the feature toggles' state): they
   * replace whatever the client sent under those names. Lower-case names.
   */
  upstreamHeaders: Readonly<Record<string, string>> | undefined = undefined;
  /** Observers of the upstream answer, added by stages that need to see it. */
  taps: ResponseTap[] | undefined = undefined;
  /** The queue's deadline of the request: stopwatch reading (0: none) and Unix time in ms (for the upstream). */
  deadline = 0;
  deadlineUnixMs = 0;
  /** The in-flight slot the queue stage holds for the request. */
  queueTicket: QueueTicket | undefined = undefined;
  /** On routes that dead-letter synchronous requests: record a failure for good (see policy/queue/dlq/writer.ts). */
  deadLetter: DeadLetterHandle | undefined = undefined;
  /** Answers instead of an upstream failure, when it can (stale-if-error). */
  cover: ErrorCover | undefined = undefined;
  /**
   * Set when the cover answered: the upstream's own outcome (its error status, or 0 and the
   * error kind when none came) — `status` and `error` are then the client's answer's.
   */
  covered: { readonly status: number; readonly error: ErrorKind | undefined } | undefined = undefined;
  /** The cache's miss on its way upstream (the cache stage finishes it in its leave). */
  cacheMiss: CacheMiss | undefined = undefined;
  /**
   * The answer is degraded (DegradationPolicy): it came from a fallback step after the chain's
   * first, or was asked for while a trigger had switched features off. A response cache does not
   * store it.
   */
  degraded = false;
  /** The query string parsed, once a stage asked for a parameter. */
  #params: URLSearchParams | undefined = undefined;

  // ── the outcome, for `leave` ──
  /** The status the client got (499: it went away first). 0 until known. */
  status = 0;
  error: ErrorKind | undefined = undefined;
  /** The backend (BackendIR id) and endpoint origin the last upstream call went to. */
  backend: string | undefined = undefined;
  endpoint: string | undefined = undefined;
  /** Stopwatch readings of the last upstream call: sent, head received, ended; 0 when none. */
  upstreamStart = 0;
  upstreamHead = 0;
  upstreamEnd = 0;
  /** Upstream calls made (1 normally; more after retries or fallbacks). */
  attempts = 0;

  // ── the runner's bookkeeping (runner.ts) ──
  chain: readonly Stage[];
  /** Index of the next stage of `chain` to enter. */
  next = 0;
  /** Stages of `chain` entered so far (their `leave` runs at the end). */
  entered = 0;
  ended = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    front: readonly Stage[],
    startedAt: number,
    readonly hooks: ExchangeHooks,
  ) {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const path = normalizePath(rawPath) ?? '';
    this.path = path;
    this.query = q < 0 ? '' : raw.slice(q + 1);
    this.url = path === rawPath ? raw : q < 0 ? path : `${path}?${this.query}`;
    this.method = req.method ?? 'GET';
    this.host = hostOf(req);
    this.startedAt = startedAt;
    this.chain = front;
  }

  // ── the request as the identify stage reads it ──
  get remoteAddress(): string {
    return this.req.socket.remoteAddress ?? '';
  }
  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }
  get rawHeaders(): readonly string[] {
    return this.req.rawHeaders;
  }

  /** Whether the request carries a body (declared, or chunked). */
  get hasBody(): boolean {
    const { method, headers } = this.req;
    if (method === 'GET' || method === 'HEAD') return false;
    return Number(headers['content-length'] ?? 0) > 0 || headers['transfer-encoding'] !== undefined;
  }

  /** Sends `100 Continue` once, if the client asked for it: call before reading or streaming the body. */
  expectContinue(): void {
    if (this.continued) return;
    this.continued = true;
    const expect = this.req.headers.expect;
    if (expect !== undefined && expect.toLowerCase() === '100-continue' && !this.res.headersSent) this.res.writeContinue();
  }

  /** A request header; repeated headers joined with `,`. */
  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  }

  /** A query parameter's first value (parsed once, when first asked). */
  queryParam(name: string): string | undefined {
    if (this.query === '') return undefined;
    this.#params ??= new URLSearchParams(this.query);
    return this.#params.get(name) ?? undefined;
  }

  /** The model of an OpenAI-compatible body, once the inspect stage has read it. */
  get llmModel(): string | undefined {
    return this.llm?.model;
  }

  /** A verified claim (JWT or API key entry) as a string, when it is a string or a number. */
  claim(name: string): string | undefined {
    const v = this.claims[name];
    return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
  }

  /** Adopts an identity (the identify stage). */
  identify(identity: Identity): void {
    this.clientIp = identity.clientIp;
    this.peer = identity.peer;
    this.peerTrusted = identity.peerTrusted;
    this.user = identity.user;
    this.tenant = identity.tenant;
    this.claims = identity.claims;
  }

  /** Adds headers to the client's answer (`headers` is kept, not copied: do not change it afterwards). */
  addResponseHeaders(headers: OutgoingHttpHeaders): void {
    this.responseHeaders = this.responseHeaders === undefined ? headers : { ...this.responseHeaders, ...headers };
  }

  /** Adds request headers for the upstream (`headers` is kept, not copied: do not change it afterwards). */
  addUpstreamHeaders(headers: Readonly<Record<string, string>>): void {
    this.upstreamHeaders = this.upstreamHeaders === undefined ? headers : { ...this.upstreamHeaders, ...headers };
  }

  /** Whether the client is gone (its connection closed before the answer was complete). */
  get clientGone(): boolean {
    return this.res.destroyed && !this.res.writableFinished;
  }
}
