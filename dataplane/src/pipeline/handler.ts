/**
 * The request path's entry on plain node:http: one Exchange per request, run through the front
 * stages (identify → route) and then the matched route's chain, compiled at config load
 * (pipeline/compile.ts: inspect → hot keys → rate limit → … → proxy). Metrics are taken once per
 * exchange, when it is over.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.js';
import { countRaw } from '../identify/headers.js';
import { IdentifyStage } from '../identify/stage.js';
import { observeUpstream, statusClass, type GatewayMetrics } from '../observe/metrics.js';
import { sendProblem } from '../observe/problem.js';
import { RouteStage } from '../route/stage.js';
import type { CompiledGateway } from './compile.js';
import { Exchange, type ExchangeHooks } from './exchange.js';
import type { Stage } from './stage.js';
import { checkFront, endExchange, run } from './runner.js';

export interface HandlerDeps {
  /** Measures request durations: `monotonicClock` (fractional ms) in production. */
  readonly stopwatch: Clock;
  readonly metrics: GatewayMetrics;
  /** The compiled config in use; swapped atomically on updates. */
  readonly current: () => CompiledGateway | undefined;
  /** Front stages between identify and route (e.g. the job URLs of async jobs); no `leave`. */
  readonly extraFront?: readonly Stage[];
}

const MAX_URL = 8192;

export function createHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics, stopwatch } = deps;
  const front = checkFront([new IdentifyStage(), ...(deps.extraFront ?? []), new RouteStage()]);
  const hooks: ExchangeHooks = {
    ended(x) {
      metrics.inFlight.dec();
      metrics.requests.cell(x.routeId, String(x.status)).inc();
      // By status class too: fast 429s must not hide in the latency of the answers that went upstream.
      metrics.latency.cell(x.routeId, statusClass(x.status)).observe((stopwatch.now() - x.startedAt) / 1000);
      if (x.backend !== undefined && x.upstreamStart > 0) {
        const end = x.upstreamEnd > 0 ? x.upstreamEnd : stopwatch.now();
        // A failure covered by a stale answer is still the backend's failure.
        observeUpstream(metrics, x.backend, x.covered ?? x, (end - x.upstreamStart) / 1000);
      }
    },
    failed(x, err) {
      const { res } = x;
      if (!res.headersSent) sendProblem(res, 500, 'internal', 'Internal error', 'The gateway failed to handle the request.');
      else if (!res.writableEnded) res.destroy();
      process.emitWarning(`request failed: ${err instanceof Error ? err.message : String(err)}`);
    },
  };

  return (req, res) => {
    const x = new Exchange(req, res, front, stopwatch.now(), hooks);
    metrics.inFlight.inc();
    if ((req.url?.length ?? 0) > MAX_URL) {
      x.status = 414;
      sendProblem(res, 414, 'uri-too-long', 'URI too long', `The request target may be at most ${MAX_URL} characters.`);
      return endExchange(x);
    }
    if (x.path === '') {
      x.status = 400;
      sendProblem(
        res,
        400,
        'bad-request-target',
        'Bad request target',
        'The request target must be a path (origin form) with valid percent-encoding.',
      );
      return endExchange(x);
    }
    const hosts = countRaw(req.rawHeaders, 'host');
    if (hosts > 1) {
      // RFC 9112 §3.2: a request with more than one Host is refused (which one would the routes see?).
      x.status = 400;
      sendProblem(
        res,
        400,
        'duplicate-header',
        'Duplicate Host header',
        `The request has ${hosts} Host headers; it may have one.`,
        undefined,
        {
          connection: 'close',
        },
      );
      return endExchange(x);
    }
    const compiled = deps.current();
    if (!compiled) {
      x.status = 503;
      sendProblem(res, 503, 'not-ready', 'Gateway not ready', 'No configuration has been loaded yet.');
      return endExchange(x);
    }
    x.compiled = compiled;
    run(x);
  };
}
