/**
 * The rate-limit stage: every level of the route checked at once (one store call, all or
 * nothing). A rejection is answered here — 429 quota-exceeded, or 503 when Redis is out and the
 * policy fails closed — with the RateLimit fields and Retry-After; an admitted request carries
 * the RateLimit fields to whatever answer it gets. A `Wait` level holds the request until admitted.
 */
import { kindFeature } from '@jarvis/api';
import { sendProblem } from '../../observe/problem.js';
import type { StageContext } from '../../pipeline/context.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { ANSWERED, CONTINUE, type Stage, type StageFactory, type Verdict } from '../../pipeline/stage.js';
import type { Timers } from '../../clock.js';
import { problemBody, rateLimitHeaders } from './headers.js';
import { compileRouteLimiter } from './limiter.js';
import type { LimitDecision, RouteLimiter } from './types.js';

export class RateLimitStage implements Stage {
  readonly name = 'ratelimit';

  constructor(
    private readonly limiter: RouteLimiter,
    private readonly timers: Timers,
  ) {}

  enter(x: Exchange): Verdict | Promise<Verdict> {
    const decision = this.limiter.check(x);
    return decision instanceof Promise ? decision.then((d) => this.#decided(x, d)) : this.#decided(x, decision);
  }

  #decided(x: Exchange, decision: LimitDecision): Verdict | Promise<Verdict> {
    const headers = rateLimitHeaders(decision);
    if (!decision.allowed) {
      x.req.resume();
      const status = decision.degraded === 'closed' ? 503 : 429;
      const body = problemBody(decision, x.path.length > 256 ? x.path.slice(0, 256) : x.path) as Record<string, unknown>;
      const title = status === 429 ? 'Too Many Requests' : 'Rate limiting unavailable';
      const detail = typeof body['detail'] === 'string' ? body['detail'] : 'Request rejected by rate limiting.';
      x.status = status;
      sendProblem(x.res, status, status === 429 ? 'quota-exceeded' : 'ratelimit-unavailable', title, detail, body, headers);
      return ANSWERED;
    }
    x.addResponseHeaders(headers);
    const waitMs = decision.waitMs ?? 0;
    if (waitMs <= 0) return CONTINUE;
    return new Promise<Verdict>((resolve) => this.timers.after(waitMs, () => resolve(CONTINUE)));
  }
}

export const rateLimitStage: StageFactory<StageContext> = {
  name: 'ratelimit',
  features: [kindFeature('RateLimitPolicy')],
  build(route, ctx) {
    const ir = route.rateLimit;
    if (!ir) return undefined;
    const limiter = compileRouteLimiter(ir, {
      stores: ctx.stores,
      clock: ctx.clock,
      onDecision: (d) => ctx.onDecision(route, d),
      onModeChange: (mode, previous) => ctx.onModeChange?.(route, mode, previous),
    });
    return new RateLimitStage(limiter, ctx.timers);
  },
};
