/**
 * The triggers of one route: each one's signal (error rate or p95 latency of the route's upstream
 * calls over a sliding window, or the gateway's CPU, memory or event-loop lag) fed through its
 * hysteresis. Outcomes are recorded as the exchanges end (the stage's `leave`: two increments and
 * a log); the signals are read and the states changed only by `evaluate`, on a timer.
 */
import type { DegradationIR } from '@jarvis/api';
import { Hysteresis } from './hysteresis.js';
import { WindowedSketch } from './sketch.js';
import type { SystemSignals } from './system.js';
import { WindowedRate } from './window.js';

export type TriggerIR = DegradationIR['triggers'][number];

/** A trigger changed state. */
export interface TriggerTransition {
  readonly trigger: string;
  readonly type: TriggerIR['type'];
  readonly active: boolean;
  /** The signal's value that caused it (undefined: no value, e.g. too few samples). */
  readonly value: number | undefined;
}

/** One trigger as the admin API shows it. */
export interface TriggerView {
  readonly name: string;
  readonly type: TriggerIR['type'];
  readonly active: boolean;
  /** Wall-clock ms of the last change; undefined when it never changed. */
  readonly sinceMs: number | undefined;
  /** The signal at the last evaluation (percent or ms); undefined when it had none. */
  readonly value: number | undefined;
  /** Calls in the window (ErrorRate, LatencyP95) at the last evaluation. */
  readonly samples: number | undefined;
  readonly activate: number;
  readonly deactivate: number;
  readonly unit: 'percent' | 'ms';
  readonly holdForMs: number;
  readonly windowMs: number;
  readonly minSamples: number;
  readonly activations: number;
  readonly deactivations: number;
}

class Trigger {
  readonly hysteresis: Hysteresis;
  readonly rate: WindowedRate | undefined;
  readonly latency: WindowedSketch | undefined;
  value: number | undefined = undefined;
  samples: number | undefined = undefined;
  sinceMs: number | undefined = undefined;
  activations = 0;
  deactivations = 0;

  constructor(readonly ir: TriggerIR) {
    const activate = ir.percent?.activate ?? ir.latency?.activateMs ?? 0;
    const deactivate = ir.percent?.deactivate ?? ir.latency?.deactivateMs ?? 0;
    this.hysteresis = new Hysteresis({ activate, deactivate, holdForMs: ir.holdForMs });
    if (ir.type === 'ErrorRate') this.rate = new WindowedRate(ir.windowMs);
    if (ir.type === 'LatencyP95') this.latency = new WindowedSketch(ir.windowMs);
  }

  signal(now: number, system: SystemSignals | undefined): number | undefined {
    const { ir } = this;
    if (this.rate) {
      const { calls, failures } = this.rate.totals(now);
      this.samples = calls;
      return calls >= ir.minSamples ? (100 * failures) / calls : undefined;
    }
    if (this.latency) {
      const n = this.latency.count(now);
      this.samples = n;
      return n >= ir.minSamples ? this.latency.quantile(now, 0.95) : undefined;
    }
    if (ir.type === 'CPU' || ir.type === 'Memory' || ir.type === 'EventLoopLag') return system?.mean(ir.type, ir.windowMs, now);
    return undefined;
  }
}

export class TriggerSet {
  readonly #triggers: readonly Trigger[];
  readonly #byName: ReadonlyMap<string, Trigger>;
  readonly #rates: readonly WindowedRate[];
  readonly #sketches: readonly WindowedSketch[];
  /** Whether any trigger reads the gateway's own load. */
  readonly usesSystem: boolean;

  constructor(
    triggers: readonly TriggerIR[],
    private readonly system: SystemSignals | undefined,
  ) {
    this.#triggers = triggers.map((t) => new Trigger(t));
    this.#byName = new Map(this.#triggers.map((t) => [t.ir.name, t]));
    this.#rates = this.#triggers.flatMap((t) => (t.rate ? [t.rate] : []));
    this.#sketches = this.#triggers.flatMap((t) => (t.latency ? [t.latency] : []));
    this.usesSystem = this.#triggers.some((t) => t.rate === undefined && t.latency === undefined);
  }

  /** Whether any trigger reads upstream calls (the stage records outcomes only then). */
  get recordsCalls(): boolean {
    return this.#rates.length > 0 || this.#sketches.length > 0;
  }

  /**
   * One upstream call ended at `now` (monotonic ms): whether it failed and, when its answer's head
   * came, the time to it.
   */
  record(now: number, failed: boolean, latencyMs: number | undefined): void {
    for (const r of this.#rates) r.record(now, failed);
    if (latencyMs !== undefined) for (const s of this.#sketches) s.record(now, latencyMs);
  }

  /** Reads every signal and moves the hysteresis; the transitions that happened. */
  evaluate(now: number, wallNow: number): TriggerTransition[] {
    const out: TriggerTransition[] = [];
    for (const t of this.#triggers) {
      const value = t.signal(now, this.system);
      t.value = value;
      if (!t.hysteresis.update(now, value)) continue;
      const active = t.hysteresis.active;
      t.sinceMs = wallNow;
      if (active) t.activations++;
      else t.deactivations++;
      out.push({ trigger: t.ir.name, type: t.ir.type, active, value });
    }
    return out;
  }

  isActive(name: string): boolean {
    return this.#byName.get(name)?.hysteresis.active ?? false;
  }

  /** While the named trigger is active, the earliest monotonic ms at which it may deactivate (see Hysteresis.earliestEnd). */
  earliestEnd(name: string, now: number): number | undefined {
    return this.#byName.get(name)?.hysteresis.earliestEnd(now);
  }

  /** The active trigger among `names` that became active first (undefined: none is active). */
  firstActive(names: readonly string[]): TriggerView | undefined {
    let best: Trigger | undefined;
    for (const n of names) {
      const t = this.#byName.get(n);
      if (!t?.hysteresis.active) continue;
      if (!best || (t.hysteresis.since ?? 0) < (best.hysteresis.since ?? 0)) best = t;
    }
    return best ? view(best) : undefined;
  }

  views(): TriggerView[] {
    return this.#triggers.map(view);
  }
}

function view(t: Trigger): TriggerView {
  const s = t.hysteresis.settings;
  return {
    name: t.ir.name,
    type: t.ir.type,
    active: t.hysteresis.active,
    sinceMs: t.sinceMs,
    value: t.value,
    samples: t.rate || t.latency ? t.samples : undefined,
    activate: s.activate,
    deactivate: s.deactivate,
    unit: t.ir.percent ? 'percent' : 'ms',
    holdForMs: t.ir.holdForMs,
    windowMs: t.ir.windowMs,
    minSamples: t.ir.minSamples,
    activations: t.activations,
    deactivations: t.deactivations,
  };
}
