/**
 * The stages a route's chain may have, in the order they run. One line per kind of stage: a new
 * protection registers here, and its declared features are what the gateway announces it enforces
 * (see features below and api/src/features.ts). The proxy stage ends every chain.
 */
import { IDENTIFY_FEATURES } from '../identify/stage.js';
import { bufferStage, inspectStage } from '../inspect/stage.js';
import { hotspotStage } from '../policy/hotspot/stage.js';
import { rateLimitEarlyStage, rateLimitStage } from '../policy/ratelimit/stage.js';
import type { StageContext } from './context.js';
import type { StageFactory } from './stage.js';

export const ROUTE_STAGES: readonly StageFactory<StageContext>[] = [
  // Routes that read bodies: the limits that need no body, then the body (read and parsed).
  rateLimitEarlyStage,
  inspectStage,
  hotspotStage,
  rateLimitStage,
  // Other routes read their body (up to the buffer size) only once the limits admitted the request.
  bufferStage,
];

/** Features of the front stages (identify runs before routing, for every request). */
export const FRONT_FEATURES: readonly string[] = IDENTIFY_FEATURES;

/** Every feature the registered stages enforce, sorted: announced in the xDS node's client_features. */
export function enforcedFeatures(): string[] {
  return [...new Set([...FRONT_FEATURES, ...ROUTE_STAGES.flatMap((f) => f.features)])].sort();
}
