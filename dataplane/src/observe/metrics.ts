/**
 * Prometheus metrics of the gateway. Labels are bounded: routes, backends and policies come from
 * config; request values never (hot-key values only for the bounded top-K). prom-client's default
 * process metrics come with them, including three gauges named like counters:
 * `jarvis_gateway_nodejs_active_{handles,requests,resources}_total` (prom-client's names, kept so
 * that Node.js dashboards work; do not rate() them).
 */
import { BACKEND_TYPE_URL, GATEWAY_TYPE_URL, type RouteIR } from '@jarvis/api';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ErrorKind } from '../pipeline/exchange.js';
import { cellCounter, cellHistogram, type Cell } from './cells.js';

/** Process-wide Redis store counters, read at scrape time. */
export type RedisTotals = () => {
  readonly roundTrips: number;
  readonly checks: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly scriptReloads: number;
  readonly shed: number;
};

/**
 * Current top-K hot values, read at scrape time: only these ever become label values. Parameter
 * `Route` is the route itself, whose `share` is its rate over its baseline.
 */
export type HotKeysSource = () => readonly { routeId: string; parameter: string; value: string; share: number; hot: boolean }[];

/** HTTP status classes, the `status_class` label: a handful of values whatever the statuses. */
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100) - 1] ?? 'other';
}

/** Request duration buckets (seconds): sub-millisecond for answers the gateway gives itself. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Backends of the config in force as the admin view shows them, read at scrape time. */
export type BackendsSource = () => readonly {
  readonly id: string;
  readonly breaker: { readonly state: string } | null;
  readonly endpoints: readonly {
    readonly ready: boolean;
    readonly health: string;
    readonly ejected: boolean;
    readonly receivesTraffic: boolean;
  }[];
}[];

const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;
/** The response caches' state, read at scrape time (policies come from config). */
export type CacheSource = () => {
  readonly policies: readonly {
    readonly policy: string;
    readonly l1: { readonly entries: number; readonly bytes: number; readonly pinned: number; readonly evictions: number };
  }[];
  /** Redis level calls and failures; undefined without Redis. */
  readonly l2: { readonly calls: number; readonly errors: number; readonly timeouts: number; readonly shed: number } | undefined;
  /** Invalidation messages from other gateways: applied, and for a policy this gateway does not have. */
  readonly remote: { readonly applied: number; readonly unknown: number };
};

/** Requests being handled: a plain number on the request path, read when scraped. */
function inFlightGauge(registry: Registry): { inc(): void; dec(): void } {
  let n = 0;
  new Gauge({
    name: 'jarvis_gateway_in_flight_requests',
    help: 'Requests being handled.',
    registers: [registry],
    collect() {
      this.set(n);
    },
  });
  return { inc: () => void n++, dec: () => void n-- };
}

/** Each route's degradation triggers and feature toggles, read at scrape time (routes, triggers and features come from config). */
export type DegradationSource = () => readonly {
  readonly route: string;
  readonly features: readonly { readonly name: string; readonly enabled: boolean }[];
  readonly triggers: readonly {
    readonly name: string;
    readonly type: string;
    readonly active: boolean;
    readonly value: number | undefined;
    readonly unit: string;
  }[];
}[];

export interface MetricSources {
  readonly hotKeys?: HotKeysSource;
  readonly redisTotals?: RedisTotals;
  readonly backends?: BackendsSource;
  readonly caches?: CacheSource;
  readonly degradation?: DegradationSource;
}

export function createGatewayMetrics(sources: MetricSources = {}) {
  const hotKeys = sources.hotKeys ?? (() => []);
  const redisTotals = sources.redisTotals;
  const backends = sources.backends ?? (() => []);
  const caches = sources.caches;
  const degradation = sources.degradation ?? (() => []);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'jarvis_gateway_' });
  /** A counter that reads one of the Redis store's process-wide totals at scrape time. */
  const redisTotal = (name: string, help: string, stat: 'roundTrips' | 'checks') =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        if (redisTotals) this.inc(redisTotals()[stat]);
      },
    });
  return {
    registry,
    requests: cellCounter({
      name: 'jarvis_gateway_requests_total',
      help: 'Requests by route and status.',
      labelNames: ['route', 'status'],
      registry,
    }),
    latency: cellHistogram({
      name: 'jarvis_gateway_request_duration_seconds',
      help: 'Time from request to response end, by route and status class (2xx, 4xx, …: fast 429s apart from served answers).',
      labelNames: ['route', 'status_class'],
      buckets: DURATION_BUCKETS,
      registry,
    }),
    upstreamRequests: cellCounter({
      name: 'jarvis_gateway_upstream_requests_total',
      help: 'Calls to each backend by the status class of its answer; none: no answer (timeout, unreachable, reset, or the client left first).',
      labelNames: ['backend', 'status_class'],
      registry,
    }),
    upstreamLatency: cellHistogram({
      name: 'jarvis_gateway_upstream_duration_seconds',
      help: 'Time from dispatching a call to a backend to the end of its answer (or its failure), by backend.',
      labelNames: ['backend'],
      buckets: DURATION_BUCKETS,
      registry,
    }),
    upstreamErrors: cellCounter({
      name: 'jarvis_gateway_upstream_errors_total',
      help: 'Failed calls to each backend: timeout, unavailable (refused, reset, broken off) or server_error (a 5xx answer).',
      labelNames: ['backend', 'kind'],
      registry,
    }),
    limitDecisions: cellCounter({
      name: 'jarvis_gateway_ratelimit_decisions_total',
      help: 'Rate-limit outcomes by policy, level and result (allowed, rejected, shadow_rejected).',
      labelNames: ['policy', 'level', 'result'],
      registry,
    }),
    llmUsageMissing: cellCounter({
      name: 'jarvis_gateway_llm_usage_missing_total',
      help: 'LLM answers on routes with token costs (llmTokens) that reported no usage: their token reservation was kept, by route.',
      labelNames: ['route'],
      registry,
    }),
    llmSettleFailures: cellCounter({
      name: 'jarvis_gateway_llm_settle_failures_total',
      help: 'LLM token reservations whose correction Redis did not take (down or slow): the reservation stands, by route.',
      labelNames: ['route'],
      registry,
    }),
    llmTokensReconciled: cellCounter({
      name: 'jarvis_gateway_llm_tokens_reconciled_total',
      help: "LLM tokens charged on top of a request's reservation (direction charged) or refunded from it (refunded) once its answer's usage was known — or, refunded, its output reservation when no upstream answer came; summed over the counters charged, by route.",
      labelNames: ['route', 'direction'],
      registry,
    }),
    failureMode: new Gauge({
      name: 'jarvis_gateway_ratelimit_failure_mode',
      help: '1 for the store mode a policy is in: memory or redis normally; open, closed or local while Redis is unavailable.',
      labelNames: ['policy', 'mode'],
      registers: [registry],
    }),
    configVersion: new Gauge({
      name: 'jarvis_gateway_config_info',
      help: 'The config in use (value 1).',
      labelNames: ['source', 'version'],
      registers: [registry],
    }),
    unenforced: new Gauge({
      name: 'jarvis_gateway_config_unenforced_features',
      help: 'Routes and backends of the config in use whose policies need a feature this gateway does not enforce, by feature (the operator reports those policies Enforced=False, reason Unsupported).',
      labelNames: ['feature'],
      registers: [registry],
    }),
    configUpdates: new Counter({
      name: 'jarvis_gateway_config_updates_total',
      help: 'Config updates by result.',
      labelNames: ['source', 'result'],
      registers: [registry],
    }),
    hotKeys: new Gauge({
      name: 'jarvis_gateway_hotkey_share_ratio',
      help: "Guaranteed share (0-1) of a route's recent traffic of each of its current top-K values (only the top-K are labels).",
      labelNames: ['route', 'parameter', 'value'],
      registers: [registry],
      collect() {
        this.reset();
        for (const k of hotKeys())
          if (k.parameter !== 'Route') this.set({ route: k.routeId, parameter: k.parameter, value: k.value }, k.share);
      },
    }),
    hotKeyState: new Gauge({
      name: 'jarvis_gateway_hotkey_hot',
      help: "1 while a top-K value is hot (it gets the policy's stricter hotspot limit), else 0; parameter Route: the route itself surges.",
      labelNames: ['route', 'parameter', 'value'],
      registers: [registry],
      collect() {
        this.reset();
        for (const k of hotKeys()) this.set({ route: k.routeId, parameter: k.parameter, value: k.value }, k.hot ? 1 : 0);
      },
    }),
    routeSurge: new Gauge({
      name: 'jarvis_gateway_route_surge_ratio',
      help: "A route's current request rate over its own baseline (routes whose policy sets routeSurge).",
      labelNames: ['route'],
      registers: [registry],
      collect() {
        this.reset();
        for (const k of hotKeys()) if (k.parameter === 'Route') this.set({ route: k.routeId }, k.share);
      },
    }),
    xdsConnected: new Gauge({
      name: 'jarvis_gateway_xds_connected',
      help: '1 while the gateway has its xDS stream to the operator at `target`, else 0 (gateways with --xds only).',
      labelNames: ['target'],
      registers: [registry],
    }),
    xdsNacks: new Counter({
      name: 'jarvis_gateway_xds_nacks_total',
      help: 'xDS responses this gateway refused (NACKed) by resource type (gateway, backend); it keeps its previous configuration.',
      labelNames: ['type'],
      registers: [registry],
    }),
    redisRoundTrips: redisTotal(
      'jarvis_gateway_redis_round_trips_total',
      'Round trips to Redis (EVALSHA): at most one per rate-limited request, whatever the number of levels; checks started in one event-loop turn share one.',
      'roundTrips',
    ),
    redisChecks: redisTotal(
      'jarvis_gateway_redis_checks_total',
      'Rate-limit checks sent to Redis (one per rate-limited request); over round trips: checks per round trip.',
      'checks',
    ),
    redisErrors: new Counter({
      name: 'jarvis_gateway_redis_errors_total',
      help: 'Redis round trips that failed (error), timed out (timeout) or were repeated because the server had lost the script it ran before (noscript; loading it on first contact is not counted); overload: checks refused without a round trip while too many were unanswered.',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        this.reset();
        if (!redisTotals) return;
        const t = redisTotals();
        this.inc({ kind: 'error' }, t.errors);
        this.inc({ kind: 'timeout' }, t.timeouts);
        this.inc({ kind: 'noscript' }, t.scriptReloads);
        this.inc({ kind: 'overload' }, t.shed);
      },
    }),
    redisLatency: cellHistogram({
      name: 'jarvis_gateway_redis_duration_seconds',
      help: 'Rate-limit round trips to Redis (one EVALSHA each, for one or more checks), by outcome (ok, error, timeout).',
      labelNames: ['outcome'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registry,
    }),
    inFlight: inFlightGauge(registry),
    // ── traffic switching (CircuitBreakerPolicy) ──
    breakerState: new Gauge({
      name: 'jarvis_gateway_breaker_state',
      help: 'Circuit breaker state per backend: 1 for the state it is in (closed, open, half_open), 0 for the others.',
      labelNames: ['backend', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const b of backends()) {
          if (!b.breaker) continue;
          for (const state of BREAKER_STATES) this.set({ backend: b.id, state }, b.breaker.state === state ? 1 : 0);
        }
      },
    }),
    breakerTransitions: new Counter({
      name: 'jarvis_gateway_breaker_transitions_total',
      help: 'Circuit breaker transitions per backend (from, to).',
      labelNames: ['backend', 'from', 'to'],
      registers: [registry],
    }),
    breakerRejected: cellCounter({
      name: 'jarvis_gateway_breaker_rejected_total',
      help: 'Calls failed fast by an open breaker (or with every half-open probe slot taken), per backend.',
      labelNames: ['backend'],
      registry,
    }),
    endpoints: new Gauge({
      name: 'jarvis_gateway_backend_endpoints',
      help: 'Endpoints per backend by state: ready (EndpointSlice), unhealthy (active health check), ejected (outlier detection), receiving (gets new requests now).',
      labelNames: ['backend', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const b of backends()) {
          const n = { ready: 0, unhealthy: 0, ejected: 0, receiving: 0 };
          for (const e of b.endpoints) {
            if (e.ready) n.ready++;
            if (e.health === 'unhealthy') n.unhealthy++;
            if (e.ejected) n.ejected++;
            if (e.receivesTraffic) n.receiving++;
          }
          for (const [state, value] of Object.entries(n)) this.set({ backend: b.id, state }, value);
        }
      },
    }),
    ejections: new Counter({
      name: 'jarvis_gateway_outlier_ejections_total',
      help: 'Endpoints ejected by outlier detection, per backend and reason (consecutive_5xx, consecutive_gateway_errors, success_rate, failure_percentage); result skipped: left in because maxEjectionPercent was reached.',
      labelNames: ['backend', 'reason', 'result'],
      registers: [registry],
    }),
    readmissions: new Counter({
      name: 'jarvis_gateway_outlier_readmissions_total',
      help: 'Ejected endpoints re-admitted, per backend and reason (ejection_time, health_check, config).',
      labelNames: ['backend', 'reason'],
      registers: [registry],
    }),
    healthChecks: cellCounter({
      name: 'jarvis_gateway_health_checks_total',
      help: 'Active health-check probes per backend by result (pass, fail).',
      labelNames: ['backend', 'result'],
      registry,
    }),
    retries: cellCounter({
      name: 'jarvis_gateway_retries_total',
      help: 'Retries to another endpoint per backend, by what failed (status, timeout, connect).',
      labelNames: ['backend', 'reason'],
      registry,
    }),
    retryBudgetExhausted: cellCounter({
      name: 'jarvis_gateway_retry_budget_exhausted_total',
      help: 'Retries refused because the backend retry budget was spent, per backend.',
      labelNames: ['backend'],
      registry,
    }),
    fallbackSteps: cellCounter({
      name: 'jarvis_gateway_fallback_steps_total',
      help: 'Steps of DegradationPolicy fallback chains per route and step, by result: answered (its answer reached the client), status (a retryOn status, discarded), timeout, connect (no connection or reset before an answer), breaker_open (skipped untried, or failed fast), no_endpoint, skipped (the chain deadline had passed, or a streamed body was spent).',
      labelNames: ['route', 'step', 'result'],
      registry,
    }),
    cacheRequests: cellCounter({
      name: 'jarvis_gateway_cache_requests_total',
      help: 'Response cache outcomes by CachePolicy: hit_l1, hit_l2, coalesced (answered by an identical request in flight), stale (stale-while-revalidate), miss, bypass (no key: identity or body missing); stale_if_error: misses answered with a stale copy instead of an upstream error; stored / not_stored: cacheable answers put in L1 or refused there.',
      labelNames: ['policy', 'result'],
      registry,
    }),
    cacheL1: new Gauge({
      name: 'jarvis_gateway_cache_l1',
      help: "Each CachePolicy's in-process level: entries, bytes, pinned (hot keys) and evictions (to respect the bounds, since start).",
      labelNames: ['policy', 'measure'],
      registers: [registry],
      collect() {
        this.reset();
        if (!caches) return;
        for (const p of caches().policies) {
          this.set({ policy: p.policy, measure: 'entries' }, p.l1.entries);
          this.set({ policy: p.policy, measure: 'bytes' }, p.l1.bytes);
          this.set({ policy: p.policy, measure: 'pinned' }, p.l1.pinned);
          this.set({ policy: p.policy, measure: 'evictions' }, p.l1.evictions);
        }
      },
    }),
    // ── degradation (DegradationPolicy triggers and feature toggles) ──
    triggerActive: new Gauge({
      name: 'jarvis_gateway_degradation_trigger_active',
      help: "Each route's DegradationPolicy triggers: 1 while active, 0 otherwise.",
      labelNames: ['route', 'trigger', 'type'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of degradation())
          for (const t of r.triggers) this.set({ route: r.route, trigger: t.name, type: t.type }, t.active ? 1 : 0);
      },
    }),
    triggerSignal: new Gauge({
      name: 'jarvis_gateway_degradation_trigger_signal',
      help: "Each trigger's signal at its last evaluation (unit percent: error rate, CPU, memory; ms: p95 latency, event-loop lag); absent while it has none (too few samples).",
      labelNames: ['route', 'trigger', 'type', 'unit'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of degradation())
          for (const t of r.triggers)
            if (t.value !== undefined) this.set({ route: r.route, trigger: t.name, type: t.type, unit: t.unit }, t.value);
      },
    }),
    triggerTransitions: new Counter({
      name: 'jarvis_gateway_degradation_trigger_transitions_total',
      help: 'Trigger transitions per route and trigger (to: active, inactive).',
      labelNames: ['route', 'trigger', 'to'],
      registers: [registry],
    }),
    featureEnabled: new Gauge({
      name: 'jarvis_gateway_feature_enabled',
      help: "Each route's feature toggles: 1 while the feature is on, 0 while the policy or a trigger has it off.",
      labelNames: ['route', 'feature'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of degradation()) for (const f of r.features) this.set({ route: r.route, feature: f.name }, f.enabled ? 1 : 0);
      },
    }),
    featureTransitions: new Counter({
      name: 'jarvis_gateway_feature_transitions_total',
      help: 'Feature toggles switched by triggers, per route and feature (to: on, off).',
      labelNames: ['route', 'feature', 'to'],
      registers: [registry],
    }),
    cacheRedis: new Counter({
      name: 'jarvis_gateway_cache_redis_calls_total',
      help: 'Response cache calls to Redis (lookups, stores, invalidations, locks) by outcome: ok, error, timeout, shed (refused at once while 256 were unanswered); remote_applied / remote_unknown: invalidation messages from other gateways.',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        if (!caches) return;
        const c = caches();
        if (c.l2) {
          this.inc({ outcome: 'ok' }, Math.max(0, c.l2.calls - c.l2.errors - c.l2.timeouts));
          this.inc({ outcome: 'error' }, c.l2.errors);
          this.inc({ outcome: 'timeout' }, c.l2.timeouts);
          this.inc({ outcome: 'shed' }, c.l2.shed);
        }
        this.inc({ outcome: 'remote_applied' }, c.remote.applied);
        this.inc({ outcome: 'remote_unknown' }, c.remote.unknown);
      },
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/**
 * The Redis store's round-trip callback: each duration into its outcome's cell. The cells are
 * made here, so a gateway without Redis exports no Redis latency series.
 */
export function redisRoundTripObserver(metrics: GatewayMetrics): (ms: number, outcome: 'ok' | 'error' | 'timeout') => void {
  const cells = {
    ok: metrics.redisLatency.cell('ok'),
    error: metrics.redisLatency.cell('error'),
    timeout: metrics.redisLatency.cell('timeout'),
  };
  return (ms, outcome) => cells[outcome].observe(ms / 1000);
}

/** How an exchange's (last) upstream call ended: its status, and the exchange's error kind if it failed. */
export interface UpstreamOutcome {
  readonly status: number;
  readonly error: ErrorKind | undefined;
}

/**
 * Records one call to a backend when it ends (the request path's one upstream metrics hook): its
 * answer's status class, its duration, and whether it failed. A body refused for its size is the
 * gateway's doing, not the backend's: not counted.
 */
export function observeUpstream(metrics: GatewayMetrics, backend: string, r: UpstreamOutcome, seconds: number): void {
  // The client's doing, not the backend's (a body over the limit or too slow): not counted.
  if (r.error === 'body-too-large' || r.error === 'client-slow') return;
  const answered = r.error === undefined || r.error === 'upstream-reset';
  metrics.upstreamRequests.cell(backend, answered && r.status > 0 ? statusClass(r.status) : 'none').inc();
  metrics.upstreamLatency.cell(backend).observe(seconds);
  const kind =
    r.error === 'timeout'
      ? 'timeout'
      : r.error === 'connect' || r.error === 'upstream-reset'
        ? 'unavailable'
        : r.error === undefined && r.status >= 500
          ? 'server_error'
          : undefined;
  if (kind !== undefined) metrics.upstreamErrors.cell(backend, kind).inc();
}

/** The `policy` label of a route's limiter: its RateLimitPolicies, or the route id. */
export function limiterPolicyLabel(route: RouteIR): string {
  return route.rateLimit?.policies.map((p) => `${p.namespace}/${p.name}`).join(',') ?? route.id;
}

/** The xDS connection state and NACKs (gateways with --xds): set to disconnected until connected. */
export function xdsObserver(metrics: GatewayMetrics, target: string): { connected(up: boolean): void; rejected(typeUrl: string): void } {
  metrics.xdsConnected.set({ target }, 0);
  return {
    connected: (up) => metrics.xdsConnected.set({ target }, up ? 1 : 0),
    rejected: (typeUrl) =>
      metrics.xdsNacks.inc({ type: typeUrl === GATEWAY_TYPE_URL ? 'gateway' : typeUrl === BACKEND_TYPE_URL ? 'backend' : 'other' }),
  };
}

/**
 * The response cache's outcome counter of a policy: one cell per outcome, looked up once, so a
 * request adds to a plain number. The outcome names are a fixed set (CacheOutcome).
 */
export function cacheOutcomeCounter(metrics: GatewayMetrics): (policy: string) => (outcome: string) => void {
  return (policy) => {
    const cells = new Map<string, Cell>();
    return (outcome) => {
      let cell = cells.get(outcome);
      if (cell === undefined) cells.set(outcome, (cell = metrics.cacheRequests.cell(policy, outcome)));
      cell.inc();
    };
  };
}
