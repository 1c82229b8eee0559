/**
 * The rate-limit stage: every level of the route checked at once (one store call, all or
 * nothing). A rejection is answered here — 429 quota-exceeded, or 503 when Redis is out and the
 * policy fails closed — with the RateLimit fields and Retry-After; an admitted request carries
 * the RateLimit fields to whatever answer it gets. A `Wait` level holds the request until admitted.
 * A request refused by a level with onMissingKey Reject, for lack of a key part, gets 403
 * (`limit-key-missing`, naming the level and the part); nothing was counted for it.
 *
 * On a route whose policies look inside bodies (LLM token costs, the model as a key part or a
 * condition, hot Model or PromptHash values),
 * the levels that need nothing from the body are checked first, before the body is read and
 * parsed (`ratelimit-early`), so a flood of large bodies is refused by the client's own limits
 * before it costs any parsing; the levels that need the body, and the hot-key level, are checked
 * after it. Each check is all or nothing; a request refused by the second has used its quota of
 * the first, as if it had been refused for its body. Those routes make two store calls.
 *
 * LLM tokens (cost LlmTokens) are reserved at admission and settled when the exchange is over
 * (`leave`): a tap reads the committed upstream answer's `usage` as it streams by (usage.ts,
 * bounded memory), and the limiter charges or refunds the difference in the same store — one
 * more store call per request, whatever the number of levels.
 */
import { kindFeature, type RateLimitIR } from '@jarvis/api';
import { inspectsBody } from '../../inspect/stage.js';
import { sendProblem } from '../../observe/problem.js';
import type { StageContext } from '../../pipeline/context.js';
import type { Exchange, ResponseTap } from '../../pipeline/exchange.js';
import { continueExchange, failExchange } from '../../pipeline/runner.js';
import { ANSWERED, CONTINUE, TAKEN, type Stage, type StageFactory, type Verdict } from '../../pipeline/stage.js';
import type { Timers } from '../../clock.js';
import type { UpstreamHead } from '../../proxy/headers.js';
import { RATELIMIT_FIELD, RATELIMIT_POLICY_FIELD, problemBody, rateLimitHeaders } from './headers.js';
import { levelNeedsBody } from './conditions.js';
import { compileRouteLimiter } from './limiter.js';
import type { DecisionSink, LimitDecision, Reservation, RouteLimiter } from './types.js';
import { usageReader, type JsonUsageReader, type SseUsageScanner } from './usage.js';

/** Appends a RateLimit field's list to what an earlier check of the same request put there. */
function joined(previous: unknown, next: string | undefined): string | undefined {
  if (typeof previous !== 'string' || previous === '') return next;
  return next === undefined || next === '' ? previous : `${previous}, ${next}`;
}

/** Watches one exchange's upstream answer for the usage that settles its reservation. */
class UsageTap implements ResponseTap {
  answered = false;
  reader: SseUsageScanner | JsonUsageReader | undefined = undefined;
  constructor(
    readonly owner: RateLimitStage,
    readonly reservation: Reservation,
  ) {}
  head(_status: number, head: UpstreamHead): void {
    this.answered = true;
    this.reader = usageReader(head.headers);
  }
  data(chunk: Buffer): void {
    this.reader?.push(chunk);
  }
}

export class RateLimitStage implements Stage, DecisionSink<Exchange> {
  constructor(
    readonly name: 'ratelimit' | 'ratelimit-early',
    readonly limiter: RouteLimiter,
    private readonly timers: Timers,
  ) {}

  /** Settles the exchange's reservation: from the answer's usage, or without one. */
  leave(x: Exchange): void {
    const taps = x.taps;
    if (!taps) return;
    for (const t of taps) {
      if (!(t instanceof UsageTap) || t.owner !== this) continue;
      const usage = t.answered ? (t.reader?.usage() ?? 'missing') : 'unanswered';
      this.limiter.settle(t.reservation, usage);
    }
  }

  enter(x: Exchange): Verdict | Promise<Verdict> {
    // A check that goes to Redis comes back through `decided` (the stage is its sink): no promise per request.
    const decision = this.limiter.checkInto(x, this);
    return decision === undefined ? TAKEN : this.#decided(x, decision);
  }

  /** The decision of a check that waited for Redis: the walk goes on from here. */
  decided(x: Exchange, decision: LimitDecision): void {
    let verdict: Verdict | Promise<Verdict>;
    try {
      verdict = this.#decided(x, decision);
    } catch (err) {
      failExchange(x, err);
      return;
    }
    continueExchange(x, verdict);
  }

  failed(x: Exchange, err: unknown): void {
    failExchange(x, err);
  }

  #decided(x: Exchange, decision: LimitDecision): Verdict | Promise<Verdict> {
    const headers = rateLimitHeaders(decision);
    const earlier = x.responseHeaders;
    if (earlier !== undefined && this.name === 'ratelimit') {
      // The early check's fields, under the names rateLimitHeaders gives them: the items of both
      // checks in one field each, the early check's first.
      for (const field of [RATELIMIT_POLICY_FIELD, RATELIMIT_FIELD]) {
        const v = joined(earlier[field], headers[field]);
        if (v !== undefined) headers[field] = v;
      }
    }
    if (!decision.allowed && decision.missingKey !== undefined) {
      x.req.resume();
      const { level, policy, part } = decision.missingKey;
      x.status = 403;
      sendProblem(
        x.res,
        403,
        'limit-key-missing',
        'Request not attributable',
        `The request has no ${part} for level ${level} of policy ${policy}, which refuses such requests.`,
        { level, policy, 'missing-key-part': part, instance: x.path.length > 256 ? x.path.slice(0, 256) : x.path },
      );
      return ANSWERED;
    }
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
    if (decision.reservation) (x.taps ??= []).push(new UsageTap(this, decision.reservation));
    const waitMs = decision.waitMs ?? 0;
    if (waitMs <= 0) return CONTINUE;
    return new Promise<Verdict>((resolve) => this.timers.after(waitMs, () => resolve(CONTINUE)));
  }
}

/** Levels that need the body: LLM token costs, Model key parts, model conditions. */
const needsBody = levelNeedsBody;

function stageFor(
  name: RateLimitStage['name'],
  ir: RateLimitIR,
  route: Parameters<StageFactory<StageContext>['build']>[0],
  ctx: StageContext,
) {
  const limiter = compileRouteLimiter(ir, {
    stores: ctx.stores,
    clock: ctx.clock,
    onDecision: (d) => ctx.onDecision(route, d),
    onModeChange: (mode, previous) => ctx.onModeChange?.(route, mode, previous),
    onSettled: (s) => ctx.onLlmSettled?.(route, s),
  });
  return new RateLimitStage(name, limiter, ctx.timers);
}

/** On routes that read bodies: the levels that do not need the body, before it is read. */
export const rateLimitEarlyStage: StageFactory<StageContext> = {
  name: 'ratelimit-early',
  features: [],
  build(route, ctx) {
    const ir = route.rateLimit;
    if (!ir || !inspectsBody(route)) return undefined;
    const early = ir.levels.filter((l) => !needsBody(l));
    return early.length === 0 ? undefined : stageFor('ratelimit-early', { ...ir, levels: early, hotspot: undefined }, route, ctx);
  },
};

/** Every level of the route (on routes that read bodies: those that need the body), and the hot-key level. */
export const rateLimitStage: StageFactory<StageContext> = {
  name: 'ratelimit',
  features: [kindFeature('RateLimitPolicy')],
  build(route, ctx) {
    const ir = route.rateLimit;
    if (!ir) return undefined;
    if (!inspectsBody(route)) return stageFor('ratelimit', ir, route, ctx);
    const late = ir.levels.filter(needsBody);
    return late.length === 0 && !ir.hotspot ? undefined : stageFor('ratelimit', { ...ir, levels: late }, route, ctx);
  },
};
