/** Shapes shared by the hot-key stage and its readers (pipeline, admin endpoint, metrics). */
import type { RateLimitIR } from '@jarvis/api';

/** The hotspot section of a route's compiled RateLimitPolicy. */
export type HotspotIR = NonNullable<RateLimitIR['hotspot']>;

/** A watched attribute of a request and its value, e.g. `{ parameter: 'Tenant', value: 'acme' }`. */
export interface HotValue {
  readonly parameter: string;
  readonly value: string;
}

/** One line of `GET /admin/hotkeys` and of the bounded top-K metric. */
export interface HotKeyEntry {
  readonly routeId: string;
  /** See `hotspotParameterName`; 'Route' for a surging route as a whole. */
  readonly parameter: string;
  /** Bounded key of the value (see `hotspotValueKey`); the route id for 'Route'. */
  readonly value: string;
  /**
   * Guaranteed share of the route's decayed traffic, 0..1 (the space-saving lower bound). For
   * 'Route': the route's current rate over its baseline (e.g. 3 = three times its usual rate).
   */
  readonly share: number;
  /** Requests per second carrying this value, from the decayed count over the window. */
  readonly estimatedRate: number;
  readonly hot: boolean;
  /** When the value turned hot (ms since the epoch); null when it is not hot. */
  readonly since: number | null;
}
