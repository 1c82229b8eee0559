/**
 * The hot-key stage: counts the watched parameter values of each request in the route's guard and
 * flags the ones that are hot, for the rate-limit stage to give them the stricter hotspot limit.
 */
import { sectionFeature, type RouteIR } from '@jarvis/api';
import type { StageContext } from '../../pipeline/context.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { CONTINUE, type Stage, type StageFactory, type Verdict } from '../../pipeline/stage.js';
import { compileHotspotGuard, type HotspotGuard } from './guard.js';
import { hotspotParameterName } from './value.js';

/** The value of a watched parameter in this request, if it has one. */
function valueOf(x: Exchange, parameter: string, query: { params?: URLSearchParams }): string | undefined {
  switch (parameter) {
    case 'Tenant':
      return x.tenant;
    case 'User':
      return x.user;
    case 'ClientIP':
      return x.clientIp;
    case 'Model':
      return x.llm?.model;
    case 'PromptHash':
      return x.llm?.promptHash;
  }
  if (parameter.startsWith('Header:')) return x.header(parameter.slice(7));
  if (parameter.startsWith('Query:')) return (query.params ??= new URLSearchParams(x.query)).get(parameter.slice(6)) ?? undefined;
  return undefined;
}

export class HotspotStage implements Stage {
  readonly name = 'hotspot';
  readonly #parameters: readonly string[];

  constructor(
    private readonly routeId: string,
    private readonly guard: HotspotGuard,
    route: RouteIR,
  ) {
    this.#parameters = (route.rateLimit?.hotspot?.parameters ?? []).map(hotspotParameterName);
  }

  enter(x: Exchange): Verdict {
    const values: { parameter: string; value: string }[] = [];
    const query: { params?: URLSearchParams } = {};
    for (const parameter of this.#parameters) {
      const value = valueOf(x, parameter, query);
      if (value !== undefined && value !== '') values.push({ parameter, value });
    }
    x.hot = this.guard.observe(this.routeId, values);
    return CONTINUE;
  }
}

export const hotspotStage: StageFactory<StageContext> = {
  name: 'hotspot',
  features: [sectionFeature('RateLimitPolicy', 'hotspot')],
  build(route, ctx) {
    const ir = route.rateLimit?.hotspot;
    if (!ir) return undefined;
    const guard = compileHotspotGuard(route.id, ir, { clock: ctx.clock });
    ctx.guards.push(guard);
    return new HotspotStage(route.id, guard, route);
  },
};
