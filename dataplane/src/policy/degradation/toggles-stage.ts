/**
 * The feature-toggle stage of a route with a DegradationPolicy's triggers or toggles: on the way
 * in it adds the toggles' state to the upstream request (the policy's featureHeader, e.g.
 * `x-jarvis-features: hybrid_search=off, rerank=off` — the client's own is replaced); on the way
 * out it records the upstream call's outcome for the triggers (failed or not, time to the answer's
 * head). Reading the signals and switching toggles happens on the registry's timer, not here.
 */
import { sectionFeature } from '@jarvis/api';
import type { Clock } from '../../clock.js';
import type { StageContext } from '../../pipeline/context.js';
import type { ErrorKind, Exchange } from '../../pipeline/exchange.js';
import { CONTINUE, type Stage, type StageFactory, type Verdict } from '../../pipeline/stage.js';
import type { RouteDegradation } from './toggles.js';

/** Error kinds that are a failed upstream call (an open breaker counts: the backend is failing). */
const CALL_FAILURES: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['timeout', 'connect', 'upstream-reset', 'breaker-open']);

/**
 * The outcome of an exchange's upstream call for the triggers: undefined when there was no call to
 * judge (answered before the upstream, or the client left); else whether it failed (an error head
 * ≥ 500, a timeout, no connection, a reset, an open breaker) and the time to the answer's head (to
 * the timeout when it timed out; none when no head came otherwise).
 */
export function callOutcome(x: Exchange, now: number): { failed: boolean; latencyMs: number | undefined } | undefined {
  const status = x.covered ? x.covered.status : x.status;
  const error = x.covered ? x.covered.error : x.error;
  if (error === 'client-gone') return undefined;
  const reached = x.upstreamStart > 0;
  const failedKind = error !== undefined && CALL_FAILURES.has(error);
  if (!reached && !failedKind) return undefined;
  const failed = failedKind || status >= 500;
  let latencyMs: number | undefined;
  if (reached && x.upstreamHead > 0) latencyMs = x.upstreamHead - x.upstreamStart;
  else if (reached && error === 'timeout') latencyMs = (x.upstreamEnd > 0 ? x.upstreamEnd : now) - x.upstreamStart;
  return { failed, latencyMs };
}

export class TogglesStage implements Stage {
  readonly name = 'degradation-toggles';
  readonly #records: boolean;
  readonly #tells: boolean;

  constructor(
    private readonly runtime: RouteDegradation,
    private readonly stopwatch: Clock,
  ) {
    this.#records = runtime.triggers.recordsCalls;
    this.#tells = runtime.hasToggles;
  }

  enter(x: Exchange): Verdict {
    if (this.#tells) {
      x.addUpstreamHeaders(this.runtime.headerEntry);
      if (this.runtime.degraded) x.degraded = true;
    }
    return CONTINUE;
  }

  leave(x: Exchange): void {
    if (!this.#records) return;
    const now = x.upstreamEnd > 0 ? x.upstreamEnd : this.stopwatch.now();
    const outcome = callOutcome(x, now);
    if (outcome) this.runtime.triggers.record(now, outcome.failed, outcome.latencyMs);
  }
}

export const togglesStage: StageFactory<StageContext> = {
  name: 'degradation-toggles',
  features: [sectionFeature('DegradationPolicy', 'triggers'), sectionFeature('DegradationPolicy', 'featureToggles')],
  build(route, ctx) {
    const runtime = ctx.degradation?.runtime(route);
    return runtime ? new TogglesStage(runtime, ctx.stopwatch) : undefined;
  },
};
