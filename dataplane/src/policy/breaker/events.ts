/**
 * What the traffic-switching state machines report (metrics and logs subscribe in main.ts).
 * Labels are backend ids and endpoint origins of the config: bounded by the config.
 */
import type { BreakerState } from './breaker.js';
import type { EjectionReason } from './outlier.js';

export type ReadmitReason = 'ejection_time' | 'health_check' | 'config';

export type RetryReason = 'status' | 'timeout' | 'connect';

export interface BackendEvents {
  breakerTransition(backend: string, from: BreakerState, to: BreakerState): void;
  /** A call refused at once by an open breaker (or with every half-open probe slot taken). */
  breakerRejected(backend: string): void;
  ejected(backend: string, endpoint: string, reason: EjectionReason, ms: number): void;
  /** Ejection left out because maxEjectionPercent of the backend's endpoints are ejected already. */
  ejectionSkipped(backend: string, endpoint: string, reason: EjectionReason): void;
  readmitted(backend: string, endpoint: string, reason: ReadmitReason): void;
  probed(backend: string, endpoint: string, passed: boolean): void;
  healthChanged(backend: string, endpoint: string, healthy: boolean): void;
  retried(backend: string, reason: RetryReason): void;
  budgetExhausted(backend: string): void;
}

/** Reports nothing (tests, tools). */
export const NO_EVENTS: BackendEvents = {
  breakerTransition: () => {},
  breakerRejected: () => {},
  ejected: () => {},
  ejectionSkipped: () => {},
  readmitted: () => {},
  probed: () => {},
  healthChanged: () => {},
  retried: () => {},
  budgetExhausted: () => {},
};
