/** Multi-level rate limiting (seed §2): compiled per route, one store call per request, all or nothing. */
export type {
  ActiveMode,
  LevelResult,
  LimitAdjust,
  LimitDecision,
  LimitOp,
  LlmUsage,
  Reservation,
  Settlement,
  LimitRequest,
  LimitStore,
  LimitStores,
  OpOutcome,
  RouteLimiter,
  StoreResult,
} from './types.js';
export { ALG } from './types.js';
export { compileRouteLimiter, initialMode, localShare, type LimiterDeps, type LlmTokenKind } from './limiter.js';
export { createMemoryStore, type MemoryLimitStore } from './memory-store.js';
export {
  createRedisStore,
  redisRoundTrips,
  redisStoreTotals,
  LimitStoreOverloadError,
  LimitStoreTooLargeError,
  LimitStoreTimeoutError,
  type RedisLimitStore,
  type RedisStoreOptions,
  type RedisStoreStats,
} from './redis-store.js';
export { rateLimitHeaders, problemBody, QUOTA_EXCEEDED_TYPE } from './headers.js';
export { keyPart, DEFAULT_HASH_TAG } from './keys.js';
export { SseUsageScanner, JsonUsageReader, usageOf, usageReader } from './usage.js';
