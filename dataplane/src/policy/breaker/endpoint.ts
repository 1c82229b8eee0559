/**
 * What a gateway knows of one endpoint of one backend beyond its EndpointSlice readiness: its
 * active health (from the probes' results and the thresholds) and its outlier ejection. An
 * endpoint is `down` — it gets no new requests, unless its backend is in panic — while it is
 * unhealthy or ejected. The state outlives config reloads: the backend's guard in a new config
 * takes it over (guard.ts), together with a running health loop and ejection timer.
 */
import type { ActiveHealthCheckIR } from '@jarvis/api';
import type { TimerHandle } from '../../clock.js';
import type { HealthLoop } from './health.js';
import type { EjectionReason, OutlierStats } from './outlier.js';

/** unknown: not probed yet (or no health check): counts as healthy. */
export type Health = 'unknown' | 'healthy' | 'unhealthy';

/** Who hears when an endpoint goes down or comes back (its backend's guard). */
export interface EndpointOwner {
  endpointChanged(state: EndpointState, wasDown: boolean): void;
  /** A probe of this endpoint passed or failed. */
  probeResult(state: EndpointState, passed: boolean): void;
}

export class EndpointState implements OutlierStats {
  health: Health = 'unknown';
  #passes = 0;
  #fails = 0;
  // outlier detection (OutlierStats)
  consecutive5xx = 0;
  consecutiveGateway = 0;
  intervalCalls = 0;
  intervalFailures = 0;
  ejected = false;
  timesEjected = 0;
  ejectionReason: EjectionReason | undefined = undefined;
  /** Monotonic ms at which the ejection ends. */
  ejectedUntil = 0;
  ejectionTimer: TimerHandle | undefined = undefined;
  /** The running probe loop, when the backend has an active health check. */
  loop: HealthLoop | undefined = undefined;

  constructor(
    /** `http://address:port` (`*.localhost` as loopback). */
    readonly origin: string,
    /** As the EndpointSlice lists it. */
    readonly address: string,
    readonly port: number,
    public owner: EndpointOwner,
  ) {}

  get down(): boolean {
    return this.ejected || this.health === 'unhealthy';
  }

  /**
   * A probe's result under `ir`'s thresholds. An endpoint not known yet turns healthy on its first
   * pass; unhealthy after unhealthyThreshold failures in a row; healthy again after
   * healthyThreshold passes in a row. Returns the new health when it changed.
   */
  probed(passed: boolean, ir: ActiveHealthCheckIR): Health | undefined {
    const was = this.down;
    let changed: Health | undefined;
    if (passed) {
      this.#fails = 0;
      this.#passes++;
      if (this.health === 'unknown' || (this.health === 'unhealthy' && this.#passes >= ir.healthyThreshold)) changed = 'healthy';
    } else {
      this.#passes = 0;
      this.#fails++;
      if (this.health !== 'unhealthy' && this.#fails >= ir.unhealthyThreshold) changed = 'unhealthy';
    }
    if (changed === undefined) return undefined;
    this.health = changed;
    this.owner.endpointChanged(this, was);
    return changed;
  }

  /** Forgets the probes' verdict (the health check changed or went away). */
  resetHealth(): void {
    const was = this.down;
    this.loop?.stop();
    this.loop = undefined;
    this.health = 'unknown';
    this.#passes = this.#fails = 0;
    if (was !== this.down) this.owner.endpointChanged(this, was);
  }

  eject(reason: EjectionReason, until: number, timer: TimerHandle): void {
    const was = this.down;
    this.ejectionTimer?.cancel();
    this.ejected = true;
    this.timesEjected++;
    this.ejectionReason = reason;
    this.ejectedUntil = until;
    this.ejectionTimer = timer;
    this.owner.endpointChanged(this, was);
  }

  /** Ends an ejection (its time is up, a health check passed, or the settings changed). */
  readmit(): void {
    if (!this.ejected) return;
    const was = this.down;
    this.ejectionTimer?.cancel();
    this.ejectionTimer = undefined;
    this.ejected = false;
    this.ejectionReason = undefined;
    this.consecutive5xx = this.consecutiveGateway = 0;
    this.owner.endpointChanged(this, was);
  }

  /** Forgets outlier detection's counts and ejections (its settings changed or went away). */
  resetOutlier(): void {
    this.readmit();
    this.consecutive5xx = this.consecutiveGateway = this.intervalCalls = this.intervalFailures = this.timesEjected = 0;
  }

  /** Stops the loop and the timer (the endpoint left the config). */
  stop(): void {
    this.loop?.stop();
    this.loop = undefined;
    this.ejectionTimer?.cancel();
    this.ejectionTimer = undefined;
  }
}
