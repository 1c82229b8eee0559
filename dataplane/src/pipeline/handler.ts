/**
 * The request path: identify → route → hot-key observe → rate limit (all levels at once) →
 * endpoint pick → proxy. Runs on plain node:http; every per-route decision was compiled at
 * config load (pipeline/compile.ts), so a request only walks prepared stages.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, Timers } from '../clock.js';
import type { Identifier, Identity, IdentityProblem } from '../identify/index.js';
import { observeUpstream, statusClass, type GatewayMetrics } from '../observe/metrics.js';
import { sendProblem } from '../observe/problem.js';
import { problemBody, rateLimitHeaders, type LimitDecision, type LimitRequest } from '../policy/ratelimit/index.js';
import { llmFacts, readBody, type BodyRead, type LlmFacts } from '../inspect/index.js';
import { forward, hasBody, upstreamHeaders, type ForwardOptions } from '../proxy/forward.js';
import type { RequestLine } from '../route/matcher.js';
import type { CompiledGateway, CompiledRoute } from './compile.js';

export interface HandlerDeps {
  /** Measures request durations: `monotonicClock` (fractional ms) in production. */
  readonly stopwatch: Clock;
  readonly timers: Timers;
  readonly identifier: Identifier;
  readonly metrics: GatewayMetrics;
  readonly forward: ForwardOptions;
  /** The compiled config in use; swapped atomically on updates. */
  readonly current: () => CompiledGateway | undefined;
  /** Most bytes of a body read for inspection (routes with inspectBody); larger bodies get 413. */
  readonly inspectBodyBytes: number;
  readonly random?: () => number;
}

const MAX_URL = 8192;

function hostOf(req: IncomingMessage): string {
  const host = req.headers.host ?? '';
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  return (end > 0 ? host.slice(0, end) : host).toLowerCase();
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function hotValues(route: CompiledRoute, identity: Identity, x: Exchange): { parameter: string; value: string }[] {
  const { req, query } = x;
  const out: { parameter: string; value: string }[] = [];
  let params: URLSearchParams | undefined;
  for (const p of route.hotParameters) {
    let value: string | undefined;
    if (p === 'Tenant') value = identity.tenant;
    else if (p === 'User') value = identity.user;
    else if (p === 'ClientIP') value = identity.clientIp;
    else if (p.startsWith('Header:')) value = headerValue(req, p.slice(7));
    else if (p.startsWith('Query:')) value = (params ??= new URLSearchParams(query)).get(p.slice(6)) ?? undefined;
    else if (p === 'Model') value = x.llm?.model;
    else if (p === 'PromptHash') value = x.llm?.promptHash;
    if (value !== undefined && value !== '') out.push({ parameter: p, value });
  }
  return out;
}

/** One request as it walks the stages. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly compiled: CompiledGateway;
  readonly url: string;
  readonly path: string;
  readonly query: string;
  /** The body, when the route inspects bodies: forwarded from here instead of streamed. */
  body?: Buffer;
  /** What an OpenAI-compatible JSON body says (model, prompt hash, token estimate). */
  llm?: LlmFacts;
  /** Reports the outcome of a request that was forwarded (its stage returned FORWARDED). */
  readonly finish: (route: string, status: number) => void;
}

/** application/json and the +json types (RFC 6839). */
function isJson(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}

/** How a request ended, for the metrics. */
interface Outcome {
  readonly route: string;
  readonly status: number;
}

/** A forwarded request's outcome is reported through `Exchange.finish` when the exchange ends. */
const FORWARDED = Symbol('forwarded');
type Step = Outcome | typeof FORWARDED;

/** A stage's result: synchronous when the stage needed no I/O. */
type Maybe<T> = T | Promise<T>;

const NO_ROUTE = 'none';

export function createHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const random = deps.random ?? Math.random;
  const { metrics } = deps;

  function start(req: IncomingMessage, res: ServerResponse, finish: Exchange['finish']): Maybe<Step> {
    const url = req.url ?? '/';
    if (url.length > MAX_URL) {
      sendProblem(res, 414, 'uri-too-long', 'URI too long', `The request target may be at most ${MAX_URL} characters.`);
      return { route: NO_ROUTE, status: 414 };
    }
    const compiled = deps.current();
    if (!compiled) {
      sendProblem(res, 503, 'not-ready', 'Gateway not ready', 'No configuration has been loaded yet.');
      return { route: NO_ROUTE, status: 503 };
    }
    const q = url.indexOf('?');
    const x: Exchange = { req, res, compiled, url, path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1), finish };
    const identity = deps.identifier.identify({
      remoteAddress: req.socket.remoteAddress ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
    });
    return identity instanceof Promise ? identity.then((id) => identified(x, id)) : identified(x, identity);
  }

  function identified(x: Exchange, identity: Identity | IdentityProblem): Maybe<Step> {
    const { req, res } = x;
    if (!('clientIp' in identity)) {
      sendProblem(res, identity.status, identity.type, identity.title, identity.detail);
      return { route: NO_ROUTE, status: identity.status };
    }
    const line: RequestLine = {
      method: req.method ?? 'GET',
      path: x.path,
      query: x.query,
      host: hostOf(req),
      header: (n) => headerValue(req, n),
    };
    const routeIR = x.compiled.matcher.match(line);
    const route = routeIR ? x.compiled.routes.get(routeIR.id) : undefined;
    if (!route) {
      sendProblem(res, 404, 'no-route', 'No route', `No route matches ${line.method} ${x.path}.`);
      return { route: NO_ROUTE, status: 404 };
    }
    if (route.inspectBody && hasBody(req)) return readBody(req, deps.inspectBodyBytes).then((r) => inspected(x, route, identity, r));
    return guarded(x, route, identity);
  }

  /** The body of an inspecting route is in: parse what the policies need, or refuse it. */
  function inspected(x: Exchange, route: CompiledRoute, identity: Identity, read: BodyRead): Maybe<Step> {
    const routeId = route.route.id;
    if (!read.ok) {
      if (read.reason === 'aborted') return { route: routeId, status: 499 };
      sendProblem(
        x.res,
        413,
        'body-too-large',
        'Request body too large',
        `This route reads bodies of at most ${deps.inspectBodyBytes} bytes.`,
      );
      return { route: routeId, status: 413 };
    }
    x.body = read.body;
    if (isJson(x.req)) {
      let json: unknown;
      try {
        json = JSON.parse(read.body.toString('utf8'));
      } catch (err) {
        const why = err instanceof Error ? err.message.slice(0, 200) : 'not JSON';
        sendProblem(x.res, 400, 'malformed-json', 'Malformed JSON body', `The request body is not valid JSON: ${why}`);
        return { route: routeId, status: 400 };
      }
      x.llm = llmFacts(json);
    }
    return guarded(x, route, identity);
  }

  /** Hot keys, then every rate-limit level at once. */
  function guarded(x: Exchange, route: CompiledRoute, identity: Identity): Maybe<Step> {
    const { req } = x;
    const hot = route.hotspot ? route.hotspot.observe(route.route.id, hotValues(route, identity, x)) : [];
    if (!route.limiter) return proxy(x, route, identity, undefined);
    const request: LimitRequest = {
      routeId: route.route.id,
      serviceIds: route.serviceIds,
      clientIp: identity.clientIp,
      user: identity.user,
      tenant: identity.tenant,
      method: req.method ?? 'GET',
      header: (n) => headerValue(req, n),
      claim: (n) => {
        const v = identity.claims[n];
        return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
      },
      hot,
      ...(x.llm ? { llmTokens: { input: x.llm.inputTokens, output: x.llm.outputTokens } } : {}),
    };
    const decision = route.limiter.check(request);
    return decision instanceof Promise ? decision.then((d) => limited(x, route, identity, d)) : limited(x, route, identity, decision);
  }

  function limited(x: Exchange, route: CompiledRoute, identity: Identity, decision: LimitDecision): Maybe<Step> {
    const { req, res } = x;
    const routeId = route.route.id;
    const limitHeaders = rateLimitHeaders(decision);
    if (!decision.allowed) {
      req.resume();
      const status = decision.degraded === 'closed' ? 503 : 429;
      const body = problemBody(decision, x.path.length > 256 ? x.path.slice(0, 256) : x.path) as Record<string, unknown>;
      const title = status === 429 ? 'Too Many Requests' : 'Rate limiting unavailable';
      const detail = typeof body['detail'] === 'string' ? body['detail'] : 'Request rejected by rate limiting.';
      sendProblem(res, status, status === 429 ? 'quota-exceeded' : 'ratelimit-unavailable', title, detail, body, limitHeaders);
      return { route: routeId, status };
    }
    const waitMs = decision.waitMs ?? 0;
    if (waitMs <= 0) return proxy(x, route, identity, limitHeaders);
    return new Promise<void>((resolve) => deps.timers.after(waitMs, resolve)).then(() =>
      res.destroyed ? { route: routeId, status: 499 } : proxy(x, route, identity, limitHeaders),
    );
  }

  function proxy(x: Exchange, route: CompiledRoute, identity: Identity, limitHeaders: Record<string, string> | undefined): Maybe<Step> {
    const { req, res } = x;
    const routeId = route.route.id;
    const backend = route.pickBackend(random());
    const pool = backend?.pick();
    if (!pool || !backend) {
      req.resume();
      const status = backend ? 503 : 500;
      sendProblem(
        res,
        status,
        backend ? 'no-healthy-upstream' : 'no-backend',
        backend ? 'No healthy upstream' : 'No backend',
        backend ? `Backend ${backend.id} has no ready endpoint.` : 'The route has no usable backend.',
      );
      return { route: routeId, status };
    }
    const headers = upstreamHeaders(req.headers, identity.clientIp, identity.tenant, identity.user);
    // Metrics hook (upstream, per backend): recorded where the call to the backend ends.
    const sent = deps.stopwatch.now();
    forward(req, res, pool, x.url, headers, deps.forward, limitHeaders, x.body, (r) => {
      observeUpstream(metrics, backend.id, r, (deps.stopwatch.now() - sent) / 1000);
      x.finish(routeId, r.status);
    });
    return FORWARDED;
  }

  // The metric cells are looked up per request: observe/cells.ts keeps one per label set.
  return (req, res) => {
    const started = deps.stopwatch.now();
    metrics.inFlight.inc();
    const finish = (route: string, status: number): void => {
      metrics.inFlight.dec();
      metrics.requests.cell(route, String(status)).inc();
      // Metrics hook (request duration by route and status class): where the request finishes.
      metrics.latency.cell(route, statusClass(status)).observe((deps.stopwatch.now() - started) / 1000);
    };
    const done = (step: Step): void => {
      if (step !== FORWARDED) finish(step.route, step.status);
    };
    const failed = (err: unknown): void => {
      metrics.inFlight.dec();
      metrics.requests.cell(NO_ROUTE, '500').inc();
      if (!res.headersSent) sendProblem(res, 500, 'internal', 'Internal error', 'The gateway failed to handle the request.');
      else res.destroy();
      process.emitWarning(`request failed: ${err instanceof Error ? err.message : String(err)}`);
    };
    let step: Maybe<Step>;
    try {
      step = start(req, res, finish);
    } catch (err) {
      failed(err);
      return;
    }
    if (step instanceof Promise) step.then(done, failed);
    else done(step);
  };
}
