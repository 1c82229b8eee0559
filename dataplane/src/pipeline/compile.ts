/**
 * Compiles a config into what the request path runs: the route matcher and, per route, its
 * policy stages (hot-key observation, rate limiting) and its weighted backends. Done once per
 * config, off the request path; a config that cannot be compiled is refused as a whole.
 */
import type { RouteIR } from '@jarvis/api';
import type { Clock } from '../clock.js';
import type { GatewayConfig } from '../config/types.js';
import { compileHotspotGuard, hotspotParameterName, type HotspotGuard, type HotspotRegistry } from '../policy/hotspot/index.js';
import { compileRouteLimiter, type LimitDecision, type LimitStores, type RouteLimiter } from '../policy/ratelimit/index.js';
import type { Backend, Upstreams } from '../proxy/upstreams.js';
import { compileMatcher, type Matcher } from '../route/matcher.js';

export interface CompiledRoute {
  readonly route: RouteIR;
  readonly limiter: RouteLimiter | undefined;
  readonly hotspot: HotspotGuard | undefined;
  /** Parameters the hot-key stage watches, e.g. 'Tenant', 'Header:x-api-key-id'. */
  readonly hotParameters: readonly string[];
  /** Ids of the Services behind the route (for Service-scoped limits). */
  readonly serviceIds: readonly string[];
  /**
   * Whether the request body is read before the policies run: a hot Model or PromptHash, or a
   * level costed in LLM tokens, needs what is inside it. Other routes stream bodies through.
   */
  readonly inspectBody: boolean;
  /** Picks a backend by weight; undefined: this request gets the unresolved share (500). */
  pickBackend(random: number): Backend | undefined;
}

export interface CompiledGateway {
  readonly config: GatewayConfig;
  readonly matcher: Matcher;
  readonly routes: ReadonlyMap<string, CompiledRoute>;
}

export interface CompileDeps {
  readonly clock: Clock;
  readonly upstreams: Upstreams;
  readonly stores: LimitStores;
  readonly hotspots: HotspotRegistry;
  readonly onDecision: (route: RouteIR, d: LimitDecision) => void;
  /** A route's limiter changed store mode (memory/redis, or a failure mode while Redis is out). */
  readonly onModeChange?: (route: RouteIR, mode: string, previous: string) => void;
}

export function compileGateway(config: GatewayConfig, deps: CompileDeps): CompiledGateway {
  const matcher = compileMatcher(config.gateway);
  const backends = deps.upstreams.compile(config.backends);
  const routes = new Map<string, CompiledRoute>();
  const guards: HotspotGuard[] = [];
  for (const route of config.gateway.routes) {
    const weighted = route.backends.filter((b) => b.weight > 0);
    const total = weighted.reduce((n, b) => n + b.weight, 0) + route.unresolvedWeight;
    const picks = weighted.map((b) => ({ backend: backends.get(b.backend), weight: b.weight }));
    const hotspotIR = route.rateLimit?.hotspot;
    const hotspot = hotspotIR ? compileHotspotGuard(route.id, hotspotIR, { clock: deps.clock }) : undefined;
    if (hotspot) guards.push(hotspot);
    const hotParameters = hotspotIR ? hotspotIR.parameters.map(hotspotParameterName) : [];
    routes.set(route.id, {
      route,
      limiter: route.rateLimit
        ? compileRouteLimiter(route.rateLimit, {
            stores: deps.stores,
            clock: deps.clock,
            onDecision: (d) => deps.onDecision(route, d),
            onModeChange: (mode, previous) => deps.onModeChange?.(route, mode, previous),
          })
        : undefined,
      hotspot,
      hotParameters,
      inspectBody:
        hotParameters.includes('Model') ||
        hotParameters.includes('PromptHash') ||
        (route.rateLimit?.levels.some((l) => l.cost.type === 'LlmTokens') ?? false),
      serviceIds: [...new Set(route.backends.map((b) => b.backend))],
      pickBackend(random) {
        if (total === 0) return undefined;
        if (picks.length === 1 && route.unresolvedWeight === 0) return picks[0]?.backend;
        let x = random * total;
        for (const p of picks) {
          x -= p.weight;
          if (x < 0) return p.backend;
        }
        return undefined;
      },
    });
  }
  deps.hotspots.replace(guards);
  return { config, matcher, routes };
}
