/**
 * The stages a route's chain may have, in the order they run. One line per kind of stage: a new
 * protection registers here, and its declared features are what the gateway announces it enforces
 * (see features below and api/src/features.ts). The proxy stage ends every chain; what it
 * enforces of a backend's policies (CircuitBreakerPolicy) is announced as PROXY_FEATURES.
 */
import { IDENTIFY_FEATURES } from '../identify/stage.js';
import { bufferStage, inspectStage } from '../inspect/stage.js';
import { PROXY_FEATURES } from '../proxy/stage.js';
import { cacheStage } from '../policy/cache/stage.js';
import { togglesStage } from '../policy/degradation/toggles-stage.js';
import { fallbackStage } from '../policy/degradation/fallback-stage.js';
import { hotspotStage } from '../policy/hotspot/stage.js';
import { queueStage } from '../policy/queue/stage.js';
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
  // After the body (a client still sending one holds no slot) and, once it exists, after the
  // response cache (a cached answer takes no slot either).
  queueStage,
  // Last before the upstream: the toggles' header goes on what is sent, and only exchanges that
  // reached for the upstream (not cached, not shed) feed the triggers.
  togglesStage,
  // A route with a fallback chain ends here: the chain's steps take the place of the proxy's send
  // (after the queue: the request holds its slot, and its deadline bounds the chain).
  fallbackStage,
];

/** Features of the front stages (identify runs before routing, for every request). */
export const FRONT_FEATURES: readonly string[] = IDENTIFY_FEATURES;

/**
 * Every feature the front stages, the registered route stages and the proxy stage enforce,
 * sorted: announced in the xDS node's client_features. Features that need Redis (async jobs,
 * dead letters) only when the gateway has it.
 */
export function enforcedFeatures(options: { readonly redis: boolean } = { redis: true }): string[] {
  const fromStages = ROUTE_STAGES.flatMap((f) => [...f.features, ...(options.redis ? (f.redisFeatures ?? []) : [])]);
  return [...new Set([...FRONT_FEATURES, ...fromStages, ...PROXY_FEATURES])].sort();
}
