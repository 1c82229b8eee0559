/**
 * Compiles a config into what the request path runs: the route matcher and, per route, its chain
 * of stages (pipeline/stages.ts, then the proxy stage) and its backends. Done once per config, off
 * the request path. Compiling has no side effect on the running config: pools for new endpoints,
 * the backends' guards (breakers, health checks, ejections), the identifier (when the identity
 * changed) and the new hot-key guards are made beside the running ones and put in force by
 * `commit()` once everything compiled (the guards then take over their predecessors' state and
 * start their health checks); `abort()` (or a throw) leaves the running config exactly as it was.
 */
import { backendFeatures, gatewayFeatures, routeFeatures, type RouteIR } from '@jarvis/api';
import type { Clock, Timers } from '../clock.js';
import type { GatewayConfig } from '../config/types.js';
import type { BackendGuardRegistry } from '../policy/breaker/index.js';
import type { CacheRegistry } from '../policy/cache/index.js';
import type { DegradationRegistry } from '../policy/degradation/toggles-registry.js';
import type { HotspotGuard, HotspotRegistry } from '../policy/hotspot/index.js';
import type { QueueRuntime } from '../policy/queue/index.js';
import type { LimitDecision, LimitStores, Settlement } from '../policy/ratelimit/index.js';
import type { BodySettings } from '../inspect/stage.js';
import type { Cell } from '../observe/cells.js';
import type { TriggerState } from '../policy/degradation/fallback.js';
import type { CallOptions } from '../proxy/call.js';
import type { Identifier, IdentitySource } from '../identify/index.js';
import { headerPolicy } from '../proxy/headers.js';
import { BackendSender } from '../proxy/send.js';
import { ProxyStage } from '../proxy/stage.js';
import type { PreparedBackends, Upstreams } from '../proxy/upstreams.js';
import { matcherSteps, type Matcher } from '../route/matcher.js';
import type { StageContext } from './context.js';
import type { Stage } from './stage.js';
import { ROUTE_STAGES, enforcedFeatures } from './stages.js';

export interface CompiledRoute {
  readonly id: string;
  readonly route: RouteIR;
  /** The stages this route runs, in order; the last one (proxy) answers. */
  readonly chain: readonly Stage[];
  /** Ids of the Services behind the route (for Service-scoped limits). */
  readonly serviceIds: readonly string[];
}

export interface CompiledGateway {
  readonly config: GatewayConfig;
  readonly matcher: Matcher;
  readonly routes: ReadonlyMap<string, CompiledRoute>;
  /** Who is calling (the front identify stage): the config's own identity, or the gateway's. */
  readonly identifier: Identifier;
  /** Where the identity comes from: `ClientIdentityPolicy ns/name`, `--identity FILE` or `anonymous`. */
  readonly identitySource: string;
  /**
   * Features the config asks for that this gateway does not enforce (e.g. a QueuePolicy's queue),
   * with the routes or backends that carry them: the operator reports those policies Unsupported.
   */
  readonly unenforced: ReadonlyMap<string, readonly string[]>;
}

export interface CompileDeps {
  readonly clock: Clock;
  readonly stopwatch: Clock;
  readonly timers: Timers;
  readonly random: () => number;
  readonly upstreams: Upstreams;
  readonly stores: LimitStores;
  readonly hotspots: HotspotRegistry;
  /** The gateway's backend guards (state that survives reloads). */
  readonly backendGuards: BackendGuardRegistry;
  /** Response caches: their state outlives configs (adopted on commit when the policy is unchanged). */
  readonly caches: CacheRegistry;
  readonly call: CallOptions;
  readonly body: BodySettings;
  /** Builds (or keeps) the identifier of a config; the identity decides which request headers never reach upstreams. */
  readonly identity: IdentitySource;
  readonly onDecision: (route: RouteIR, d: LimitDecision) => void;
  /** A request's LLM-token reservation was settled. */
  readonly onLlmSettled?: (route: RouteIR, s: Settlement) => void;
  /** A route's limiter changed store mode (memory/redis, or a failure mode while Redis is out). */
  readonly onModeChange?: (route: RouteIR, mode: string, previous: string) => void;
  /** Queue state kept across configs (gates, job workers, dead-letter streams); without it routes get no queue stage. */
  readonly queues?: QueueRuntime;
  /** Triggers and feature toggles: their state outlives configs (adopted when the policy is unchanged); without it routes get no toggles stage. */
  readonly degradation?: DegradationRegistry;
  /** Whether a route's DegradationPolicy trigger holds now (fallback.whenTriggered): the trigger registry. */
  readonly triggers?: TriggerState;
  /** The metric cell of a fallback step's result (route id, step name, result). */
  readonly fallbackCells?: (route: string, step: string, result: string) => Cell;
  /** What this gateway enforces (default: every registered feature). */
  readonly enforced?: readonly string[];
}

/** A compiled config that is not in force yet. */
export interface PendingGateway {
  readonly compiled: CompiledGateway;
  /** Puts the config's pools and hot-key guards in force (call when it replaces the running one). */
  commit(): void;
  /** Drops what was made for it; the running config is untouched. */
  abort(): void;
}

function unenforcedFeatures(config: GatewayConfig, features: readonly string[]): Map<string, string[]> {
  const enforced = new Set(features);
  const out = new Map<string, string[]>();
  const note = (features: readonly string[], where: string) => {
    for (const f of features) {
      if (enforced.has(f)) continue;
      let list = out.get(f);
      if (!list) out.set(f, (list = []));
      list.push(where);
    }
  };
  note(gatewayFeatures(config.gateway), `gateway ${config.gateway.id}`);
  for (const r of config.gateway.routes) note(routeFeatures(r), `route ${r.id}`);
  for (const b of config.backends) note(backendFeatures(b), `backend ${b.id}`);
  return out;
}

/** Compiles `config`; throws when it cannot (nothing is changed then). */
export function compileGateway(config: GatewayConfig, deps: CompileDeps): PendingGateway {
  const steps = compileSteps(config, deps);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** How a sliced compile shares the event loop: it pauses whenever a slice has run `sliceMs`. */
export interface Slicing {
  readonly stopwatch: Clock;
  readonly sliceMs: number;
  /** Resolves on a later turn of the event loop (setImmediate), after pending I/O. */
  readonly pause: () => Promise<void>;
}

/**
 * compileGateway in slices: the same work, with a pause whenever it has held the event loop for
 * `sliceMs`, so that a large config (thousands of routes) never stalls the traffic it replaces.
 * Rejects (nothing is changed then) where compileGateway throws.
 */
export async function compileGatewaySliced(config: GatewayConfig, deps: CompileDeps, slicing: Slicing): Promise<PendingGateway> {
  const steps = compileSteps(config, deps);
  let sliceStart = slicing.stopwatch.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (slicing.stopwatch.now() - sliceStart >= slicing.sliceMs) {
      await slicing.pause();
      sliceStart = slicing.stopwatch.now();
    }
  }
}

/** Routes compiled between two pauses of a sliced compile. */
const ROUTES_PER_STEP = 32;

function* compileSteps(config: GatewayConfig, deps: CompileDeps): Generator<void, PendingGateway> {
  const identity = deps.identity.prepare(config.gateway.identity);
  const headers = headerPolicy(identity.identifier.identityHeaders);
  const backendGuards = deps.backendGuards.prepare(config.backends);
  let prepared: PreparedBackends;
  try {
    prepared = deps.upstreams.prepare(config.backends, backendGuards.guards);
  } catch (err) {
    backendGuards.abort();
    identity.abort();
    throw err;
  }
  const guards: HotspotGuard[] = [];
  const queues = deps.queues?.begin();
  const caches = deps.caches.prepare();
  const degradation = deps.degradation?.prepare();
  let finished = false;
  try {
    const sender = new BackendSender({
      call: deps.call,
      headers,
      stopwatch: deps.stopwatch,
      clock: deps.clock,
      timers: deps.timers,
      random: deps.random,
    });
    const matcher = yield* matcherSteps(config.gateway);
    const ctx: StageContext = {
      clock: deps.clock,
      stopwatch: deps.stopwatch,
      timers: deps.timers,
      random: deps.random,
      stores: deps.stores,
      backends: prepared.backends,
      sender,
      call: deps.call,
      body: deps.body,
      headerPolicy: headers,
      caches: { pending: caches, l2: deps.caches.l2, counter: (policy) => deps.caches.counter(policy) },
      guards,
      onDecision: deps.onDecision,
      ...(deps.onModeChange ? { onModeChange: deps.onModeChange } : {}),
      ...(deps.onLlmSettled ? { onLlmSettled: deps.onLlmSettled } : {}),
      ...(queues ? { queues } : {}),
      ...(degradation ? { degradation } : {}),
      ...(deps.fallbackCells ? { fallbackCells: deps.fallbackCells } : {}),
      // fallback.whenTriggered reads the triggers of the config in force (the registry), per request.
      ...((deps.triggers ?? deps.degradation) ? { triggers: deps.triggers ?? deps.degradation } : {}),
    };
    const routes = new Map<string, CompiledRoute>();
    for (const route of config.gateway.routes) {
      const chain: Stage[] = [];
      for (const factory of ROUTE_STAGES) {
        const stage = factory.build(route, ctx);
        if (stage) chain.push(stage);
      }
      chain.push(
        new ProxyStage(route, {
          backends: prepared.backends,
          call: deps.call,
          random: deps.random,
          sender,
        }),
      );
      routes.set(route.id, {
        id: route.id,
        route,
        chain,
        serviceIds: [...new Set(route.backends.map((b) => b.backend))],
      });
      if (routes.size % ROUTES_PER_STEP === 0) yield;
    }
    const compiled: CompiledGateway = {
      config,
      matcher,
      routes,
      identifier: identity.identifier,
      identitySource: identity.source,
      unenforced: unenforcedFeatures(config, deps.enforced ?? enforcedFeatures()),
    };
    let settled = false;
    finished = true;
    return {
      compiled,
      commit: () => {
        if (settled) return;
        settled = true;
        prepared.commit();
        backendGuards.commit();
        deps.hotspots.replace(guards);
        queues?.commit();
        caches.commit();
        degradation?.commit();
        identity.commit();
      },
      abort: () => {
        if (settled) return;
        settled = true;
        prepared.abort();
        backendGuards.abort();
        queues?.abort();
        caches.abort();
        degradation?.abort();
        identity.abort();
      },
    };
  } finally {
    // A throw, or a sliced compile given up half-way: drop what was made for this config.
    if (!finished) {
      prepared.abort();
      backendGuards.abort();
      queues?.abort();
      caches.abort();
      degradation?.abort();
      identity.abort();
    }
  }
}
