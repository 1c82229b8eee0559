/**
 * Route surge detection (seed §6.1.1, intent only): a route's current rate against its own moving
 * baseline and, optionally, against the other routes of the gateway.
 *
 * - current: decayed rate with τ = the hotspot window (short);
 * - baseline: decayed rate with τ = baselineWindowMs (an EWMA of the rate; it follows a lasting
 *   change, so a new level becomes the normal after about one baseline window);
 * - peers: the route's decayed count against the mean of the other guarded routes (one shared τ).
 *
 * Surge turns on when the window holds ≥ minRequests, current ≥ baseline × multiplier and, with
 * comparePeers, the route also stands ≥ multiplier above the mean of its peers (a rise on every
 * route is load, not a hot route). It stays on at least cooldownMs after the condition last held,
 * then while the window holds ≥ minRequests / 2 and the rate stays ≥ halfway between 1× and the
 * multiplier — hysteresis, so a route hovering at the threshold does not flap.
 */
import { DecayingCounter } from './decay.js';

export interface SurgeSettings {
  readonly multiplierPercent: number;
  readonly baselineWindowMs: number;
  readonly comparePeers: boolean;
  /** The short window (the hotspot windowMs). */
  readonly windowMs: number;
  readonly minRequests: number;
  readonly cooldownMs: number;
}

export interface SurgeSnapshot {
  /** Requests per second over the short window. */
  readonly currentRate: number;
  /** Requests per second over the baseline window. */
  readonly baselineRate: number;
  /** Mean decayed count of the other routes over the peer window; NaN when not compared. */
  readonly peerMean: number;
  readonly surging: boolean;
  readonly since: number | null;
}

export class RouteSurge {
  readonly settings: SurgeSettings;
  readonly #current: DecayingCounter;
  readonly #baseline: DecayingCounter;
  readonly #on: number;
  readonly #stay: number;
  #since: number | null = null;
  #refreshedAt = 0;

  constructor(settings: SurgeSettings, now: number) {
    this.settings = settings;
    this.#current = new DecayingCounter(settings.windowMs, now);
    this.#baseline = new DecayingCounter(settings.baselineWindowMs, now);
    this.#on = settings.multiplierPercent / 100;
    this.#stay = (1 + this.#on) / 2;
  }

  record(now: number): void {
    this.#current.add(now);
    this.#baseline.add(now);
  }

  /**
   * Whether the route surges at `now`. `own` and `othersMean` are the route's and its peers' decayed
   * counts over the peer window (NaN: no peers to compare with, the baseline decides alone).
   */
  evaluate(now: number, own: number, othersMean: number): boolean {
    const s = this.settings;
    const count = this.#current.value(now);
    const current = this.#current.rate(now);
    const baseline = this.#baseline.rate(now);
    const active = count >= s.minRequests && current >= baseline * this.#on && this.#abovePeers(own, othersMean, this.#on);
    if (this.#since === null) {
      if (!active) return false;
      this.#since = now;
      this.#refreshedAt = now;
      return true;
    }
    if (active) {
      this.#refreshedAt = now;
      return true;
    }
    if (now - this.#refreshedAt < s.cooldownMs) return true;
    if (count >= s.minRequests / 2 && current >= baseline * this.#stay && this.#abovePeers(own, othersMean, this.#stay)) return true;
    this.#since = null;
    return false;
  }

  #abovePeers(own: number, othersMean: number, factor: number): boolean {
    return !this.settings.comparePeers || Number.isNaN(othersMean) || own >= othersMean * factor;
  }

  /** Rates and state at `now` (evaluates, so a cooled surge reads as off). */
  snapshot(now: number, own: number, othersMean: number): SurgeSnapshot {
    const surging = this.evaluate(now, own, othersMean);
    return {
      currentRate: this.#current.rate(now),
      baselineRate: this.#baseline.rate(now),
      peerMean: this.settings.comparePeers ? othersMean : Number.NaN,
      surging,
      since: this.#since,
    };
  }
}
