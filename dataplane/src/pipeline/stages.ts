/**
 * The stages a route's chain may have, in the order they run. One line per kind of stage: a new
 * protection registers here, and its declared features are what the gateway announces it enforces
 * (see features below and api/src/features.ts). The proxy stage ends every chain.
 */
import { bufferStage, inspectStage } from '../inspect/stage.js';
import { cacheStage } from '../policy/cache/stage.js';
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
  // A cached answer is served here: it never takes a queue slot nor touches the upstream. After
  // the buffer, so that a key can hash the body.
  cacheStage,
];

/** Every feature the registered stages enforce, sorted: announced in the xDS node's client_features. */
export function enforcedFeatures(): string[] {
  return [...new Set(ROUTE_STAGES.flatMap((f) => f.features))].sort();
}
