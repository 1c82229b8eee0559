/**
 * The request path: identify → route → hot-key observe → rate limit (all levels at once) →
 * endpoint pick → proxy. Runs on plain node:http; every per-route decision was compiled at
 * config load (pipeline/compile.ts), so a request only walks prepared stages.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, Timers } from '../clock.js';
import type { Identifier, Identity } from '../identify/index.js';
import type { GatewayMetrics } from '../observe/metrics.js';
import { sendProblem } from '../observe/problem.js';
import { problemBody, rateLimitHeaders, type LimitRequest } from '../policy/ratelimit/index.js';
import { forward, upstreamHeaders, type ForwardOptions } from '../proxy/forward.js';
import type { RequestLine } from '../route/matcher.js';
import type { CompiledGateway, CompiledRoute } from './compile.js';

export interface HandlerDeps {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly identifier: Identifier;
  readonly metrics: GatewayMetrics;
  readonly forward: ForwardOptions;
  /** The compiled config in use; swapped atomically on updates. */
  readonly current: () => CompiledGateway | undefined;
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

function hotValues(route: CompiledRoute, identity: Identity, req: IncomingMessage, query: string): { parameter: string; value: string }[] {
  const out: { parameter: string; value: string }[] = [];
  let params: URLSearchParams | undefined;
  for (const p of route.hotParameters) {
    let value: string | undefined;
    if (p === 'Tenant') value = identity.tenant;
    else if (p === 'User') value = identity.user;
    else if (p === 'ClientIP') value = identity.clientIp;
    else if (p.startsWith('Header:')) value = headerValue(req, p.slice(7));
    else if (p.startsWith('Query:')) value = (params ??= new URLSearchParams(query)).get(p.slice(6)) ?? undefined;
    // Model and PromptHash need the request body; they are observed once body-aware stages exist.
    if (value !== undefined && value !== '') out.push({ parameter: p, value });
  }
  return out;
}

/**
 * The verified identity, for the upstream. Whatever the client sent in these headers is replaced,
 * so an upstream can trust them.
 */
function identityHeaders(identity: Identity): Record<string, string> {
  return { 'x-tenant-id': identity.tenant ?? '', 'x-user-id': identity.user ?? '' };
}

export function createHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const random = deps.random ?? Math.random;
  const { metrics } = deps;

  async function handle(req: IncomingMessage, res: ServerResponse, started: number): Promise<{ route: string; status: number }> {
    const url = req.url ?? '/';
    if (url.length > MAX_URL) {
      sendProblem(res, 414, 'uri-too-long', 'URI too long', `The request target may be at most ${MAX_URL} characters.`);
      return { route: 'none', status: 414 };
    }
    const compiled = deps.current();
    if (!compiled) {
      sendProblem(res, 503, 'not-ready', 'Gateway not ready', 'No configuration has been loaded yet.');
      return { route: 'none', status: 503 };
    }
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);

    const identity = await deps.identifier.identify({
      remoteAddress: req.socket.remoteAddress ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
    });
    if (!('clientIp' in identity)) {
      sendProblem(res, identity.status, identity.type, identity.title, identity.detail);
      return { route: 'none', status: identity.status };
    }

    const line: RequestLine = { method: req.method ?? 'GET', path, query, host: hostOf(req), header: (n) => headerValue(req, n) };
    const routeIR = compiled.matcher.match(line);
    const route = routeIR ? compiled.routes.get(routeIR.id) : undefined;
    if (!route) {
      sendProblem(res, 404, 'no-route', 'No route', `No route matches ${line.method} ${path}.`);
      return { route: 'none', status: 404 };
    }
    const routeId = route.route.id;

    const hot = route.hotspot ? route.hotspot.observe(routeId, hotValues(route, identity, req, query)) : [];

    let limitHeaders: Record<string, string> | undefined;
    if (route.limiter) {
      const request: LimitRequest = {
        routeId,
        serviceIds: route.serviceIds,
        clientIp: identity.clientIp,
        ...(identity.user !== undefined ? { user: identity.user } : {}),
        ...(identity.tenant !== undefined ? { tenant: identity.tenant } : {}),
        method: line.method,
        header: (n) => headerValue(req, n),
        claim: (n) => {
          const v = identity.claims[n];
          return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
        },
        hot,
      };
      const decision = await route.limiter.check(request);
      limitHeaders = rateLimitHeaders(decision);
      if (!decision.allowed) {
        req.resume();
        const status = decision.degraded === 'closed' ? 503 : 429;
        const body = problemBody(decision, url.length > 256 ? path.slice(0, 256) : path) as Record<string, unknown>;
        const title = status === 429 ? 'Too Many Requests' : 'Rate limiting unavailable';
        const detail = typeof body['detail'] === 'string' ? body['detail'] : 'Request rejected by rate limiting.';
        sendProblem(res, status, status === 429 ? 'quota-exceeded' : 'ratelimit-unavailable', title, detail, body, limitHeaders);
        return { route: routeId, status };
      }
      if (decision.waitMs !== undefined && decision.waitMs > 0) {
        await new Promise<void>((resolve) => deps.timers.after(decision.waitMs ?? 0, resolve));
        if (res.destroyed) return { route: routeId, status: 499 };
      }
    }

    const backend = route.pickBackend(random());
    const pool = backend?.pick();
    if (!pool) {
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
    const result = await forward(
      req,
      res,
      pool,
      url,
      upstreamHeaders(req.headers, identity.clientIp, identityHeaders(identity)),
      deps.forward,
      limitHeaders,
    );
    void started;
    return { route: routeId, status: result.status };
  }

  // Labelled metric children, looked up once per route and status (labels come from config).
  const counters = new Map<string, { inc(): void }>();
  const histograms = new Map<string, { observe(v: number): void }>();
  const countFor = (route: string, status: number) => {
    const key = `${route} ${status}`;
    let c = counters.get(key);
    if (!c) {
      c = metrics.requests.labels(route, String(status));
      if (counters.size < 10_000) counters.set(key, c);
    }
    return c;
  };
  const latencyFor = (route: string) => {
    let h = histograms.get(route);
    if (!h) {
      h = metrics.latency.labels(route);
      if (histograms.size < 10_000) histograms.set(route, h);
    }
    return h;
  };

  return (req, res) => {
    const started = deps.clock.now();
    metrics.inFlight.inc();
    handle(req, res, started).then(
      ({ route, status }) => {
        metrics.inFlight.dec();
        countFor(route, status).inc();
        latencyFor(route).observe((deps.clock.now() - started) / 1000);
      },
      (err: unknown) => {
        metrics.inFlight.dec();
        metrics.requests.inc({ route: 'none', status: '500' });
        if (!res.headersSent) sendProblem(res, 500, 'internal', 'Internal error', 'The gateway failed to handle the request.');
        else res.destroy();
        process.emitWarning(`request failed: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  };
}
