/**
 * Enter and exit thresholds with a hold time: a signal at or above `activate` activates at once;
 * an active one deactivates only once it has stayed below `deactivate` (or had no value: too few
 * samples, no traffic) for `holdForMs` without a break, and never sooner than `holdForMs` after it
 * activated. So a signal that wavers around one threshold does not flap: each active period
 * lasts at least `holdForMs`, and over a time T there are at most 2·⌈T / holdForMs⌉ transitions.
 */
export interface HysteresisSettings {
  readonly activate: number;
  /** Lower than `activate`. */
  readonly deactivate: number;
  readonly holdForMs: number;
}

export class Hysteresis {
  #active = false;
  /** When the state last changed (clock ms); undefined before the first change. */
  #since: number | undefined = undefined;
  /** Since when an active signal has been below `deactivate` without a break. */
  #calmSince: number | undefined = undefined;

  constructor(readonly settings: HysteresisSettings) {}

  get active(): boolean {
    return this.#active;
  }

  get since(): number | undefined {
    return this.#since;
  }

  /**
   * While active, the earliest clock reading at which it may deactivate: holdForMs after it
   * activated, and holdForMs after the signal calmed (after `now` when it is not calm yet).
   * Undefined while inactive.
   */
  earliestEnd(now: number): number | undefined {
    if (!this.#active) return undefined;
    const hold = this.settings.holdForMs;
    return Math.max((this.#since ?? now) + hold, (this.#calmSince ?? now) + hold);
  }

  /** Feeds the signal's value at `now` (undefined: no value); true when the state changed. */
  update(now: number, value: number | undefined): boolean {
    const s = this.settings;
    if (!this.#active) {
      if (value === undefined || value < s.activate) return false;
      this.#active = true;
      this.#since = now;
      this.#calmSince = undefined;
      return true;
    }
    if (value !== undefined && value >= s.deactivate) {
      this.#calmSince = undefined;
      return false;
    }
    this.#calmSince ??= now;
    if (now - this.#calmSince < s.holdForMs || now - (this.#since ?? now) < s.holdForMs) return false;
    this.#active = false;
    this.#since = now;
    this.#calmSince = undefined;
    return true;
  }
}
