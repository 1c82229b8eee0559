/**
 * The gateway's degradation state across config reloads (owned by main.ts): one RouteDegradation
 * per route with triggers or feature toggles. A config's compile asks `prepare().runtime(route)`;
 * a route whose triggers, toggles and header are unchanged gets its running state back (trigger
 * windows, active triggers, toggles), anything else a new one. `commit()` puts the config's set in
 * force (the others are dropped), `abort()` leaves the running set as it was. One timer evaluates
 * every route's triggers each `tickMs` — the request path only records outcomes — and tells the
 * watchers of a route (its queue's shedding) when its triggers change.
 */
import type { DegradationIR, RouteIR } from '@jarvis/api';
import type { Clock, TimerHandle, Timers } from '../../clock.js';
import { RouteDegradation, type ToggleChange, type ToggleView } from './toggles.js';
import type { DegradationState, SystemSignals, TriggerTransition, TriggerView } from './triggers/index.js';

export interface DegradationEvents {
  triggerChanged?(routeId: string, t: TriggerTransition): void;
  toggleChanged?(routeId: string, t: ToggleChange): void;
}

export interface DegradationRegistryDeps {
  /** Monotonic ms (windows, hold times). */
  readonly stopwatch: Clock;
  /** Wall-clock ms (the `since` of the admin view). */
  readonly clock: Clock;
  readonly timers: Timers;
  /** The gateway's own load, sampled only while a trigger reads it. */
  readonly system?: SystemSignals;
  /** How often triggers are evaluated (default 250 ms). */
  readonly tickMs?: number;
  readonly events?: DegradationEvents;
}

/** A route's degradation as GET /admin/features shows it. */
export interface RouteFeaturesView {
  readonly route: string;
  /** The DegradationPolicy (`namespace/name`). */
  readonly policy: string;
  readonly header: string;
  /** What the upstream receives in `header` now. */
  readonly value: string;
  readonly features: readonly ToggleView[];
  readonly triggers: readonly TriggerView[];
  /**
   * The policy's shedPriorityClasses: each rule's classes and triggers, and which of them are
   * active now (the classes are shed while any is, where the route's queue has them).
   */
  readonly shedPriorityClasses: readonly {
    readonly classes: readonly string[];
    readonly triggers: readonly string[];
    readonly active: readonly string[];
  }[];
}

/** Told that triggers of a route changed state (the transitions), or, with none, that its config was put in force. */
export type TriggerWatcher = (transitions: readonly TriggerTransition[]) => void;

export interface PendingDegradation {
  /** The route's runtime in this config (the running one when unchanged). */
  runtime(route: RouteIR): RouteDegradation | undefined;
  /**
   * Registers a watcher of a route's triggers for this config: from commit() on, it is called after
   * every evaluation in which a trigger of the route changed state, and once at commit() with no
   * transitions (a trigger may have changed while the config compiled). The watchers of the
   * config it replaces are dropped.
   */
  watch(routeId: string, watcher: TriggerWatcher): void;
  commit(): void;
  abort(): void;
}

/** A route's running state in a config, and that config's shedPriorityClasses (shown by the admin view). */
interface Entry {
  readonly key: string;
  readonly runtime: RouteDegradation;
  readonly shed: NonNullable<DegradationIR['shedPriorityClasses']>;
}

const NO_TRANSITIONS: readonly TriggerTransition[] = [];
const NO_WATCHERS: readonly TriggerWatcher[] = [];

function fingerprint(d: DegradationIR): string {
  return JSON.stringify([d.triggers, d.featureToggles, d.featureHeader]);
}

export class DegradationRegistry implements DegradationState {
  #running = new Map<string, Entry>();
  /** Route id → the watchers of its triggers in the config in force. */
  #watchers = new Map<string, readonly TriggerWatcher[]>();
  #timer: TimerHandle | undefined = undefined;
  readonly #tickMs: number;
  #closed = false;

  constructor(private readonly deps: DegradationRegistryDeps) {
    this.#tickMs = deps.tickMs ?? 250;
  }

  prepare(): PendingDegradation {
    const next = new Map<string, Entry>();
    const watchers = new Map<string, TriggerWatcher[]>();
    let settled = false;
    return {
      runtime: (route) => {
        const d = route.degradation;
        if (!d || (d.triggers.length === 0 && d.featureToggles.length === 0)) return undefined;
        const made = next.get(route.id);
        if (made) return made.runtime;
        const key = fingerprint(d);
        const old = this.#running.get(route.id);
        const runtime = old && old.key === key ? old.runtime : new RouteDegradation(route.id, d, this.deps.system);
        const entry: Entry = { key, runtime, shed: d.shedPriorityClasses ?? [] };
        next.set(route.id, entry);
        return entry.runtime;
      },
      watch: (routeId, watcher) => {
        const list = watchers.get(routeId);
        if (list) list.push(watcher);
        else watchers.set(routeId, [watcher]);
      },
      commit: () => {
        if (settled) return;
        settled = true;
        this.#running = next;
        this.#watchers = watchers;
        for (const list of watchers.values()) for (const w of list) w(NO_TRANSITIONS);
        this.#schedule();
        const system = this.deps.system;
        if (system) {
          const needed = [...next.values()].some((e) => e.runtime.triggers.usesSystem);
          if (needed) system.start();
          else system.stop();
        }
      },
      abort: () => void (settled = true),
    };
  }

  /** Evaluates every route's triggers now (the timer calls this). */
  evaluate(): void {
    const now = this.deps.stopwatch.now();
    const wall = this.deps.clock.now();
    const events = this.deps.events;
    for (const [routeId, { runtime }] of this.#running) {
      const changed = runtime.evaluate(now, wall);
      if (changed.triggers.length === 0) continue;
      if (events) {
        for (const t of changed.triggers) events.triggerChanged?.(routeId, t);
        for (const t of changed.toggles) events.toggleChanged?.(routeId, t);
      }
      for (const w of this.#watchers.get(routeId) ?? NO_WATCHERS) w(changed.triggers);
    }
  }

  isActive(routeId: string, trigger: string): boolean {
    return this.#running.get(routeId)?.runtime.triggers.isActive(trigger) ?? false;
  }

  activeTriggers(routeId: string): readonly string[] {
    const r = this.#running.get(routeId);
    return r ? r.runtime.triggers.views().flatMap((t) => (t.active ? [t.name] : [])) : [];
  }

  view(): RouteFeaturesView[] {
    return [...this.#running.values()].map(({ runtime, shed }) => ({
      route: runtime.routeId,
      policy: `${runtime.ir.source.namespace}/${runtime.ir.source.name}`,
      header: runtime.header,
      value: runtime.headerValue,
      features: runtime.toggles(),
      triggers: runtime.triggerViews(),
      shedPriorityClasses: shed.map((r) => ({
        classes: r.classes,
        triggers: r.triggers,
        active: r.triggers.filter((t) => runtime.triggers.isActive(t)),
      })),
    }));
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.deps.system?.stop();
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#running.size === 0) {
      this.#timer?.cancel();
      this.#timer = undefined;
      return;
    }
    if (this.#timer) return;
    const tick = (): void => {
      this.#timer = undefined;
      this.evaluate();
      this.#schedule();
    };
    this.#timer = this.deps.timers.after(this.#tickMs, tick);
  }
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** A route's view with times as ISO strings and absent values as null (the JSON of GET /admin/features). */
export function featuresView(r: RouteFeaturesView): Record<string, unknown> {
  return {
    route: r.route,
    policy: r.policy,
    header: r.header,
    value: r.value,
    features: r.features.map((f) => ({
      name: f.name,
      enabled: f.enabled,
      core: f.core,
      reason: f.reason ?? null,
      trigger: f.trigger ?? null,
      since: iso(f.sinceMs),
      disableWhen: f.disableWhen,
    })),
    triggers: r.triggers.map((t) => ({
      name: t.name,
      type: t.type,
      active: t.active,
      since: iso(t.sinceMs),
      value: t.value ?? null,
      unit: t.unit,
      samples: t.samples ?? null,
      activate: t.activate,
      deactivate: t.deactivate,
      windowMs: t.windowMs,
      minSamples: t.minSamples,
      holdForMs: t.holdForMs,
      activations: t.activations,
      deactivations: t.deactivations,
    })),
    shedPriorityClasses: r.shedPriorityClasses.map((x) => ({ classes: x.classes, triggers: x.triggers, active: x.active })),
  };
}
