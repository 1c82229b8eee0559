/**
 * The fallback stage (DegradationPolicy `fallback`): on a route with a chain it takes the place of
 * the proxy stage's send — the chain's steps, not the route's weighted backends, are where the
 * request goes (fallback.ts). Registered after the queue, so a request holds its queue slot while
 * the chain walks, and its queue deadline bounds the chain.
 */
import { kindFeature, sectionFeature, type RouteIR } from '@jarvis/api';
import type { StageContext } from '../../pipeline/context.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { ANSWERED, TAKEN, type Stage, type StageFactory, type Verdict } from '../../pipeline/stage.js';
import { sendBodyTooLarge, sendBy } from '../../proxy/stage.js';
import { FallbackChain } from './fallback.js';

export class FallbackStage implements Stage {
  readonly name = 'fallback';
  readonly #requestMs: number | undefined;

  constructor(
    route: RouteIR,
    readonly chain: FallbackChain,
  ) {
    this.#requestMs = route.timeouts?.requestMs;
  }

  enter(x: Exchange): Verdict {
    const { req } = x;
    const deps = this.chain.deps;
    const limit = deps.call.maxBodyBytes;
    if (x.body === undefined && Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      sendBodyTooLarge(x, limit);
      return ANSWERED;
    }
    const deadline = sendBy(x, this.#requestMs, deps.stopwatch);
    if (deadline === undefined) return ANSWERED;
    this.chain.run(x, deadline);
    return TAKEN;
  }
}

export const fallbackStage: StageFactory<StageContext> = {
  name: 'fallback',
  features: [kindFeature('DegradationPolicy'), sectionFeature('DegradationPolicy', 'fallback')],
  build(route, ctx) {
    const fb = route.degradation?.fallback;
    if (!fb) return undefined;
    const counter = ctx.fallbackCells;
    const chain = new FallbackChain(
      fb,
      ctx.backends,
      {
        sender: ctx.sender,
        stopwatch: ctx.stopwatch,
        call: ctx.call,
        ...(counter ? { cell: (step: string, result: string) => counter(route.id, step, result) } : {}),
        ...(ctx.triggers ? { triggers: ctx.triggers } : {}),
      },
      route.timeouts?.backendRequestMs,
      route.id,
    );
    return new FallbackStage(route, chain);
  },
};
