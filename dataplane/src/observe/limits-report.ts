/**
 * Keeps track of the mode every route's rate limiter is in, and says it: the failure-mode gauge
 * (`jarvis_gateway_ratelimit_failure_mode`, a sample per policy set from the first config on), a
 * warn line when policies that want Redis run without it — at start, and again only when that
 * changes — and each later mode change (warn into a failure mode, info back out of it). Feeds
 * the `rateLimits` of `GET /admin/config`. The views and texts are in limits.ts.
 */
import type { GatewayIR, Logger, RouteIR } from '@jarvis/api';
import { initialMode, type ActiveMode, type LimitStores } from '../policy/ratelimit/index.js';
import { degradedLimits, degradedMessage, describeLevel, routeLimitsView, type RouteLimitsView } from './limits.js';

export interface ModeGauge {
  reset(): void;
  set(labels: { policy: string; mode: string }, value: number): void;
}

export interface LimitsReportDeps {
  readonly log: Logger;
  readonly gauge: ModeGauge;
  readonly stores: LimitStores;
  /** Whether a Redis is configured at all (--redis or REDIS_URL). */
  readonly redisConfigured: boolean;
}

const policyLabel = (route: RouteIR) => route.rateLimit?.policies.map((p) => `${p.namespace}/${p.name}`).join(',') ?? route.id;
const degraded = (m: ActiveMode) => m === 'local' || m === 'open' || m === 'closed';

export class LimitsReport {
  readonly #d: LimitsReportDeps;
  #routes: readonly RouteIR[] = [];
  /** Route id → its limiter's mode (routes of the config in force only). */
  #modes = new Map<string, ActiveMode>();
  #lastWarning = '';

  constructor(deps: LimitsReportDeps) {
    this.#d = deps;
  }

  /** A config is in force: every limiter starts in its initial mode. */
  applied(gateway: GatewayIR): void {
    this.#routes = gateway.routes.filter((r) => r.rateLimit !== undefined);
    this.#modes = new Map();
    this.#d.gauge.reset();
    for (const r of this.#routes) {
      if (!r.rateLimit) continue;
      const mode = initialMode(r.rateLimit, this.#d.stores);
      this.#modes.set(r.id, mode);
      this.#d.gauge.set({ policy: policyLabel(r), mode }, 1);
    }
    if (this.#d.redisConfigured) return; // with Redis, a failure mode starts when Redis fails: modeChanged says so
    const groups = degradedLimits(this.views());
    const text = JSON.stringify(groups);
    if (text === this.#lastWarning) return;
    this.#lastWarning = text;
    for (const g of groups)
      this.#d.log.warn(degradedMessage(g, 'no Redis: set --redis or REDIS_URL to share limits'), {
        policies: g.policies,
        routes: g.routes,
        mode: g.mode,
        ...(g.mode === 'local' ? { expectedReplicas: g.expectedReplicas, limits: g.levels } : {}),
      });
  }

  /** A route's limiter changed mode (Redis failed or came back). */
  modeChanged(route: RouteIR, mode: ActiveMode, previous: ActiveMode): void {
    if (this.#modes.has(route.id)) this.#modes.set(route.id, mode);
    const policy = policyLabel(route);
    this.#d.gauge.set({ policy, mode: previous }, 0);
    this.#d.gauge.set({ policy, mode }, 1);
    const view = mode === 'local' ? routeLimitsView(route, mode) : undefined;
    (degraded(mode) ? this.#d.log.warn : this.#d.log.info)('rate-limit store mode changed', {
      route: route.id,
      policies: policy,
      from: previous,
      to: mode,
      ...(view ? { expectedReplicas: view.expectedReplicas, limits: view.levels.map(describeLevel) } : {}),
    });
  }

  /** Per route of the config in force: its mode and the limit each level enforces in it. */
  views(): RouteLimitsView[] {
    return this.#routes.flatMap((r) => {
      const v = routeLimitsView(r, this.#modes.get(r.id) ?? 'memory');
      return v ? [v] : [];
    });
  }
}
