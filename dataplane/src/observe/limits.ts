/**
 * The rate limits a gateway enforces right now, per route: the mode each route's limiter is in
 * (memory, redis, or a failure mode while Redis is missing or failing) and, per level, the limit
 * that mode enforces — in Local mode every limit is this replica's share (the policy's limit
 * divided by `expectedReplicas`). `GET /admin/config` shows it, and the gateway logs it (warn)
 * whenever policies that want Redis run without it, so a halved limit is never a surprise.
 */
import type { RateLimitIR, RouteIR } from '@jarvis/api';
import { localShare, type ActiveMode } from '../policy/ratelimit/index.js';

export interface RateView {
  readonly limit: number;
  readonly periodMs: number;
  /** TokenBucket and GCRA: the bucket / tolerance. */
  readonly burst?: number;
}

export interface LevelView {
  readonly name: string;
  readonly policy: string;
  /** What the policy says. */
  readonly policyRate: RateView;
  /** What is enforced in the current mode (absent when nothing is: Open, Closed). */
  readonly effective?: RateView;
  /** Tenant overrides of a Tenant level, the same way. */
  readonly overrides?: readonly { readonly tenants: readonly string[]; readonly policyRate: RateView; readonly effective?: RateView }[];
}

export interface RouteLimitsView {
  readonly route: string;
  /** `namespace/name` of every contributing policy. */
  readonly policies: readonly string[];
  readonly store: RateLimitIR['store'];
  readonly mode: ActiveMode;
  readonly failureMode: RateLimitIR['failureMode']['mode'];
  readonly expectedReplicas: number;
  readonly levels: readonly LevelView[];
}

/** `1m`, `24h`, `1s`, `500ms`: the largest unit that divides the period. */
export function formatPeriod(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function formatRate(r: RateView): string {
  return `${r.limit}/${formatPeriod(r.periodMs)}${r.burst !== undefined && r.burst !== r.limit ? ` burst ${r.burst}` : ''}`;
}

function usesBurst(algorithm: string): boolean {
  return algorithm === 'TokenBucket' || algorithm === 'GCRA';
}

function rateOf(algorithm: string, limit: number, periodMs: number, burst: number | undefined): RateView {
  return usesBurst(algorithm) ? { limit, periodMs, burst: burst ?? limit } : { limit, periodMs };
}

/** What a mode enforces of a policy rate: itself, this replica's share (Local), or nothing. */
function effectiveRate(mode: ActiveMode, rate: RateView, replicas: number): RateView | undefined {
  if (mode === 'open' || mode === 'closed') return undefined;
  if (mode !== 'local') return rate;
  return {
    limit: localShare(rate.limit, replicas),
    periodMs: rate.periodMs,
    ...(rate.burst !== undefined ? { burst: localShare(rate.burst, replicas) } : {}),
  };
}

const policyName = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

export function routeLimitsView(route: RouteIR, mode: ActiveMode): RouteLimitsView | undefined {
  const rl = route.rateLimit;
  if (!rl) return undefined;
  const replicas = Math.max(1, rl.failureMode.expectedReplicas);
  const levels: LevelView[] = rl.levels.map((l) => {
    const policyRate = rateOf(l.algorithm, l.limit, l.periodMs, l.burst);
    const effective = effectiveRate(mode, policyRate, replicas);
    const overrides = l.tenantOverrides.map((o) => {
      const rate = rateOf(l.algorithm, o.limit, o.periodMs, o.burst);
      const eff = effectiveRate(mode, rate, replicas);
      return { tenants: o.tenants, policyRate: rate, ...(eff ? { effective: eff } : {}) };
    });
    return {
      name: l.name,
      policy: policyName(l.source),
      policyRate,
      ...(effective ? { effective } : {}),
      ...(overrides.length > 0 ? { overrides } : {}),
    };
  });
  const hot = rl.hotspot;
  if (hot) {
    const policyRate = rateOf(hot.limit.algorithm, hot.limit.limit, hot.limit.periodMs, hot.limit.burst);
    const effective = effectiveRate(mode, policyRate, replicas);
    levels.push({ name: 'hotspot (each hot value)', policy: policyName(hot.source), policyRate, ...(effective ? { effective } : {}) });
  }
  return {
    route: route.id,
    policies: rl.policies.map(policyName),
    store: rl.store,
    mode,
    failureMode: rl.failureMode.mode,
    expectedReplicas: rl.failureMode.expectedReplicas,
    levels,
  };
}

/** One level as a log line item: `chat-global 50/1m (policy 100/1m)`. */
export function describeLevel(l: LevelView): string {
  const pair = (policy: RateView, effective: RateView | undefined) =>
    effective === undefined
      ? `not enforced (policy ${formatRate(policy)})`
      : formatRate(effective) === formatRate(policy)
        ? formatRate(policy)
        : `${formatRate(effective)} (policy ${formatRate(policy)})`;
  const overrides = (l.overrides ?? []).map((o) => `; ${o.tenants.join(',')} ${pair(o.policyRate, o.effective)}`).join('');
  return `${l.name} ${pair(l.policyRate, l.effective)}${overrides}`;
}

/** A group of routes whose limits run in one failure mode, for one warn line. */
export interface DegradedLimits {
  readonly mode: 'open' | 'closed' | 'local';
  readonly policies: string;
  readonly routes: readonly string[];
  readonly expectedReplicas: number;
  readonly levels: readonly string[];
}

const MAX_ROUTES_LISTED = 10;

/**
 * Routes whose policies want Redis but run in a failure mode, grouped by policies and mode (each
 * group is one log line; a thousand routes under one policy stay one line).
 */
export function degradedLimits(views: readonly RouteLimitsView[]): DegradedLimits[] {
  const groups = new Map<string, { view: RouteLimitsView; routes: string[]; count: number }>();
  for (const v of views) {
    if (v.mode !== 'open' && v.mode !== 'closed' && v.mode !== 'local') continue;
    const levels = v.levels.map(describeLevel);
    const key = `${v.mode}|${v.policies.join(',')}|${levels.join('|')}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { view: v, routes: [], count: 0 }));
    g.count++;
    if (g.routes.length < MAX_ROUTES_LISTED) g.routes.push(v.route);
  }
  return [...groups.values()].map(({ view, routes, count }) => ({
    mode: view.mode as DegradedLimits['mode'],
    policies: view.policies.join(','),
    routes: count > routes.length ? [...routes, `… and ${count - routes.length} more`] : routes,
    expectedReplicas: view.expectedReplicas,
    levels: view.levels.map(describeLevel),
  }));
}

/** The warn line for a group: what happens to requests, and why. */
export function degradedMessage(d: DegradedLimits, why: string): string {
  switch (d.mode) {
    case 'local':
      return `rate limits of ${d.policies} run in Local mode (${why}): each gateway enforces its share, the policy's limit divided by expectedReplicas=${d.expectedReplicas}`;
    case 'open':
      return `rate limits of ${d.policies} are not enforced (${why}; failure mode Open admits every request)`;
    case 'closed':
      return `requests under the rate limits of ${d.policies} are rejected with 503 (${why}; failure mode Closed)`;
  }
}
