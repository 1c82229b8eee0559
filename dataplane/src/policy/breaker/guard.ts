/**
 * Everything a gateway enforces for one backend from its CircuitBreakerPolicy: the breaker, the
 * retry settings and budget, outlier detection and active health checks of its endpoints, and
 * the panic threshold. Every backend of a config has a guard (one without a policy has nothing
 * in it and changes nothing).
 *
 * A guard is built with its config (nothing runs yet). When the config is put in force, the
 * registry (registry.ts) has it `adopt` its predecessor of the same backend id: it takes over the
 * breaker and the budget when their settings are unchanged, and the state of each endpoint that
 * is still there (its health and running probe loop when the health check is unchanged, its
 * ejection and counts when outlier detection is unchanged); then `start` starts what is new.
 */
import type { ActiveHealthCheckIR, BackendIR, OutlierDetectionIR, RetryIR } from '@jarvis/api';
import type { Clock, TimerHandle, Timers } from '../../clock.js';
import { originOf } from '../../proxy/upstreams.js';
import { CircuitBreaker, type BreakerView } from './breaker.js';
import { RetryBudget } from './budget.js';
import { EndpointState, type EndpointOwner, type Health } from './endpoint.js';
import type { BackendEvents } from './events.js';
import { HealthLoop, type Prober } from './health.js';
import { OutlierRules, outlierOutcome, type EjectionReason, type OutlierOutcome } from './outlier.js';

export interface GuardDeps {
  /** Monotonic ms: windows, ejections, probes. */
  readonly clock: Clock;
  readonly timers: Timers;
  readonly random: () => number;
  readonly prober: Prober;
  readonly events: BackendEvents;
}

/** One endpoint as `GET /admin/backends` shows it. */
export interface EndpointView {
  readonly address: string;
  readonly port: number;
  readonly origin: string;
  /** EndpointSlice conditions. */
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** Active health: unknown (not probed yet, or no health check), healthy, unhealthy. */
  readonly health: Health;
  readonly ejected: boolean;
  readonly ejection?: { readonly reason: EjectionReason; readonly remainingMs: number };
  readonly timesEjected: number;
  /** Whether new requests may go to it now (ready, and healthy and not ejected or the backend in panic). */
  readonly receivesTraffic: boolean;
}

export interface BackendView {
  readonly id: string;
  readonly policy: string | null;
  /** Fewer than panicThresholdPercent of the ready endpoints are up: traffic goes to every ready one. */
  readonly panic: boolean;
  readonly panicThresholdPercent: number;
  readonly breaker: BreakerView | null;
  readonly retryBudget: { readonly active: number; readonly retrying: number; readonly exhausted: number } | null;
  readonly endpoints: readonly EndpointView[];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export class BackendGuard implements EndpointOwner {
  readonly id: string;
  breaker: CircuitBreaker | undefined;
  budget: RetryBudget | undefined;
  readonly retry: RetryIR | undefined;
  readonly panicThresholdPercent: number;
  /** Every endpoint of the backend (ready or not) by origin. */
  readonly endpoints = new Map<string, EndpointState>();
  /** Endpoints that are down (unhealthy or ejected): 0 lets endpoint choice skip every check. */
  down = 0;
  readonly #rules: OutlierRules | undefined;
  readonly #health: ActiveHealthCheckIR | undefined;
  readonly #ready: readonly string[];
  #interval: TimerHandle | undefined;
  #started = false;

  constructor(
    readonly ir: BackendIR,
    private readonly deps: GuardDeps,
  ) {
    this.id = ir.id;
    const cb = ir.circuitBreaker;
    this.breaker = cb?.breaker
      ? new CircuitBreaker(cb.breaker, {
          clock: deps.clock,
          timers: deps.timers,
          random: deps.random,
          onTransition: (from, to) => deps.events.breakerTransition(ir.id, from, to),
        })
      : undefined;
    this.retry = cb?.retry;
    this.budget = cb?.retry ? new RetryBudget(cb.retry.budget.percent, cb.retry.budget.minRetriesPerSecond, deps.clock) : undefined;
    this.#rules = cb?.outlierDetection ? new OutlierRules(cb.outlierDetection) : undefined;
    this.#health = cb?.activeHealthCheck;
    this.panicThresholdPercent = cb?.panicThresholdPercent ?? 0;
    const ready: string[] = [];
    for (const e of ir.endpoints) {
      const origin = originOf(e.address, e.port);
      if (!this.endpoints.has(origin)) this.endpoints.set(origin, new EndpointState(origin, e.address, e.port, this));
      if (e.ready) ready.push(origin);
    }
    this.#ready = ready;
  }

  /** Where the guard reports (metrics, logs). */
  get events(): BackendEvents {
    return this.deps.events;
  }

  get outlierDetection(): OutlierDetectionIR | undefined {
    return this.#rules?.ir;
  }

  get activeHealthCheck(): ActiveHealthCheckIR | undefined {
    return this.#health;
  }

  /** Whether the endpoint may get new requests on its own merits (health, ejection). */
  available(origin: string): boolean {
    const s = this.endpoints.get(origin);
    return s === undefined || !s.down;
  }

  /** Whether `up` of `ready` endpoints is below the panic threshold (then every ready endpoint gets traffic). */
  inPanic(up: number, ready: number): boolean {
    return ready > 0 && up * 100 < this.panicThresholdPercent * ready;
  }

  endpointChanged(state: EndpointState, wasDown: boolean): void {
    if (state.owner !== this || wasDown === state.down) return;
    this.down += state.down ? 1 : -1;
  }

  /** One try's answer status at an endpoint (outlier detection). */
  observeStatus(origin: string, status: number): void {
    if (this.#rules) this.#observe(origin, outlierOutcome(status));
  }

  /** One try that failed without an answer at an endpoint: refused, reset or timed out. */
  observeGatewayError(origin: string): void {
    if (this.#rules) this.#observe(origin, 'gateway-error');
  }

  #observe(origin: string, outcome: OutlierOutcome): void {
    const s = this.endpoints.get(origin);
    if (s === undefined || s.owner !== this || !this.#rules) return;
    const reason = this.#rules.observe(s, outcome);
    if (reason !== undefined) this.#eject(s, reason);
  }

  #eject(s: EndpointState, reason: EjectionReason): void {
    const rules = this.#rules;
    if (!rules || s.ejected) return;
    let ejected = 0;
    for (const origin of this.#ready) if (this.endpoints.get(origin)?.ejected) ejected++;
    if (ejected >= rules.maxEjected(this.#ready.length)) {
      this.deps.events.ejectionSkipped(this.id, s.origin, reason);
      return;
    }
    const ms = rules.ejectionMs(s.timesEjected + 1);
    const timer = this.deps.timers.after(ms, () => {
      if (s.ejectionTimer !== timer) return;
      s.readmit();
      this.deps.events.readmitted(this.id, s.origin, 'ejection_time');
    });
    s.eject(reason, this.deps.clock.now() + ms, timer);
    this.deps.events.ejected(this.id, s.origin, reason, ms);
  }

  /** A probe's result for one of this guard's endpoints (the loop asks the endpoint's current owner). */
  probeResult(s: EndpointState, passed: boolean): void {
    const ir = this.#health;
    if (!ir || s.owner !== this) return;
    this.deps.events.probed(this.id, s.origin, passed);
    const before = s.health;
    const changed = s.probed(passed, ir);
    if (changed === undefined) return;
    this.deps.events.healthChanged(this.id, s.origin, changed === 'healthy');
    // Back from unhealthy: the endpoint answers again, which ends an ejection too.
    if (changed === 'healthy' && before === 'unhealthy' && s.ejected) {
      s.readmit();
      this.deps.events.readmitted(this.id, s.origin, 'health_check');
    }
  }

  #evaluate(): void {
    const rules = this.#rules;
    if (!rules) return;
    const states = this.#ready.map((o) => this.endpoints.get(o)).filter((s): s is EndpointState => s !== undefined);
    for (const { index, reason } of rules.evaluate(states)) {
      const s = states[index];
      if (s) this.#eject(s, reason);
    }
  }

  /** Takes over what `previous` (the same backend in the config before) knows, where the settings allow. */
  adopt(previous: BackendGuard): void {
    const cb = this.ir.circuitBreaker;
    const old = previous.ir.circuitBreaker;
    if (previous.breaker && this.breaker && same(cb?.breaker, old?.breaker)) {
      this.breaker.stop();
      this.breaker = previous.breaker;
      previous.breaker = undefined;
    }
    if (previous.budget && this.budget && same(cb?.retry?.budget, old?.retry?.budget)) this.budget = previous.budget;
    const sameHealth = same(this.#health, previous.#health);
    const sameOutlier = same(this.#rules?.ir, previous.#rules?.ir);
    for (const origin of [...this.endpoints.keys()]) {
      const s = previous.endpoints.get(origin);
      if (!s) continue;
      previous.endpoints.delete(origin);
      s.owner = this;
      if (!sameHealth) s.resetHealth();
      if (!sameOutlier) {
        if (s.ejected) this.deps.events.readmitted(this.id, origin, 'config');
        s.resetOutlier();
      }
      this.endpoints.set(origin, s);
    }
    this.down = 0;
    for (const s of this.endpoints.values()) if (s.down) this.down++;
  }

  /** The config is in force: outlier detection's interval and every health loop not running yet. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const rules = this.#rules;
    if (rules) {
      const tick = (): void => {
        if (!this.#started) return;
        this.#evaluate();
        this.#interval = this.deps.timers.after(rules.ir.intervalMs, tick);
      };
      this.#interval = this.deps.timers.after(rules.ir.intervalMs, tick);
    }
    const health = this.#health;
    if (health)
      for (const s of this.endpoints.values()) {
        if (s.loop?.running) continue;
        s.loop = new HealthLoop(
          s.origin,
          health,
          { clock: this.deps.clock, timers: this.deps.timers, random: this.deps.random, prober: this.deps.prober },
          (passed) => s.owner.probeResult(s, passed),
        );
        s.loop.start();
      }
  }

  /** The backend left the config (or the config moved on): stops what is still this guard's. */
  stop(): void {
    this.#started = false;
    this.#interval?.cancel();
    this.#interval = undefined;
    this.breaker?.stop();
    for (const s of this.endpoints.values()) if (s.owner === this) s.stop();
    this.endpoints.clear();
  }

  view(): BackendView {
    const now = this.deps.clock.now();
    const ready = new Set(this.#ready);
    let up = 0;
    for (const o of this.#ready) if (this.available(o)) up++;
    const panic = this.inPanic(up, this.#ready.length);
    const cb = this.ir.circuitBreaker;
    return {
      id: this.id,
      policy: cb ? `${cb.source.namespace}/${cb.source.name}` : null,
      panic,
      panicThresholdPercent: this.panicThresholdPercent,
      breaker: this.breaker?.view() ?? null,
      retryBudget: this.budget?.view() ?? null,
      endpoints: this.ir.endpoints.map((e) => {
        const origin = originOf(e.address, e.port);
        const s = this.endpoints.get(origin);
        const down = s?.down ?? false;
        return {
          address: e.address,
          port: e.port,
          origin,
          ready: e.ready,
          serving: e.serving,
          terminating: e.terminating,
          health: s?.health ?? 'unknown',
          ejected: s?.ejected ?? false,
          ...(s?.ejected && s.ejectionReason
            ? { ejection: { reason: s.ejectionReason, remainingMs: Math.max(0, s.ejectedUntil - now) } }
            : {}),
          timesEjected: s?.timesEjected ?? 0,
          receivesTraffic: e.ready && ready.has(origin) && (!down || panic),
        };
      }),
    };
  }
}
