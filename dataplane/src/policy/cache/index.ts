/** The response cache (seed §7, §6.2.2): see stage.ts for the request path, registry.ts for the state. */
export { cacheStage, CacheStage, type CacheOutcome } from './stage.js';
export { CacheRegistry, type CacheStats, type InvalidateRequest, type InvalidateResult, type PendingCaches } from './registry.js';
export { RedisLevel, type L2Options } from './l2.js';
export { subscribeInvalidations, type Subscription } from './bus.js';
export { PolicyCache } from './policy.js';
export type { Miss as CacheMiss } from './miss.js';
export { CACHE_HEADER, type CacheStatus } from './serve.js';
