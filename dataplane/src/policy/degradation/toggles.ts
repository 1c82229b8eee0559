/**
 * The feature toggles of one route, and its triggers: which features are off and why. A feature
 * is off while the policy switches it off (`enabled: false`, a manual override) or while any
 * trigger of its `disableWhen` is active; a feature without `disableWhen` is core (load never
 * switches it off). The header value that tells the upstream every toggle's state is built when a
 * state changes (on the trigger timer), so the request path only reads a string.
 */
import type { DegradationIR } from '@jarvis/api';
import { TriggerSet, type SystemSignals, type TriggerTransition, type TriggerView } from './triggers/index.js';

/** A toggle as the admin API shows it. */
export interface ToggleView {
  readonly name: string;
  readonly enabled: boolean;
  /** Core features have no `disableWhen`: load never switches them off. */
  readonly core: boolean;
  /** Why it is off: `policy` (enabled: false) or `trigger`; undefined while on. */
  readonly reason: 'policy' | 'trigger' | undefined;
  /** The active trigger that switched it off (the earliest active of its disableWhen). */
  readonly trigger: string | undefined;
  /** Wall-clock ms since when it is in this state (undefined: since the policy was loaded). */
  readonly sinceMs: number | undefined;
  readonly disableWhen: readonly string[];
}

export interface ToggleChange {
  readonly feature: string;
  readonly enabled: boolean;
  readonly trigger: string | undefined;
}

interface Toggle {
  readonly ir: DegradationIR['featureToggles'][number];
  enabled: boolean;
  trigger: string | undefined;
  sinceMs: number | undefined;
}

/** The header value: every toggle as `name=on|off`, in name order (e.g. `hybrid_search=off, rerank=off`). */
export function featureHeaderValue(toggles: readonly { readonly name: string; readonly enabled: boolean }[]): string {
  return toggles.map((t) => `${t.name}=${t.enabled ? 'on' : 'off'}`).join(', ');
}

export class RouteDegradation {
  readonly triggers: TriggerSet;
  readonly #toggles: Toggle[];
  /** The request header naming every toggle's state (lower case), and its current value. */
  readonly header: string;
  #value: string;
  #entry: Readonly<Record<string, string>>;
  #degraded = false;

  constructor(
    readonly routeId: string,
    readonly ir: DegradationIR,
    system: SystemSignals | undefined,
  ) {
    this.triggers = new TriggerSet(ir.triggers, system);
    this.header = ir.featureHeader;
    this.#toggles = ir.featureToggles.map((t) => ({ ir: t, enabled: t.enabled, trigger: undefined, sinceMs: undefined }));
    this.#value = featureHeaderValue(this.#toggles.map((t) => ({ name: t.ir.name, enabled: t.enabled })));
    this.#entry = Object.freeze({ [this.header]: this.#value });
  }

  /** Whether a trigger has switched a feature off now (the answers are degraded). */
  get degraded(): boolean {
    return this.#degraded;
  }

  /** Whether the route tells the upstream about toggles. */
  get hasToggles(): boolean {
    return this.#toggles.length > 0;
  }

  /** The header value in force (read on every request). */
  get headerValue(): string {
    return this.#value;
  }

  /** `{ header: value }`, the same object until a toggle changes (added to every request's upstream headers). */
  get headerEntry(): Readonly<Record<string, string>> {
    return this.#entry;
  }

  /** Reads the triggers and updates the toggles; what changed. */
  evaluate(now: number, wallNow: number): { triggers: TriggerTransition[]; toggles: ToggleChange[] } {
    const triggers = this.triggers.evaluate(now, wallNow);
    if (triggers.length === 0) return { triggers, toggles: [] };
    const toggles: ToggleChange[] = [];
    for (const t of this.#toggles) {
      if (!t.ir.enabled) continue;
      const first = this.triggers.firstActive(t.ir.disableWhen);
      const enabled = first === undefined;
      t.trigger = first?.name;
      if (enabled === t.enabled) continue;
      t.enabled = enabled;
      t.sinceMs = wallNow;
      toggles.push({ feature: t.ir.name, enabled, trigger: first?.name });
    }
    if (toggles.length > 0) {
      this.#value = featureHeaderValue(this.#toggles.map((t) => ({ name: t.ir.name, enabled: t.enabled })));
      this.#entry = Object.freeze({ [this.header]: this.#value });
      this.#degraded = this.#toggles.some((t) => t.ir.enabled && !t.enabled);
    }
    return { triggers, toggles };
  }

  toggles(): ToggleView[] {
    return this.#toggles.map((t) => ({
      name: t.ir.name,
      enabled: t.enabled,
      core: t.ir.disableWhen.length === 0,
      reason: t.enabled ? undefined : t.ir.enabled ? 'trigger' : 'policy',
      trigger: t.enabled ? undefined : t.trigger,
      sinceMs: t.sinceMs,
      disableWhen: t.ir.disableWhen,
    }));
  }

  triggerViews(): TriggerView[] {
    return this.triggers.views();
  }
}
