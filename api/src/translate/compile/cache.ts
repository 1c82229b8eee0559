/** CachePolicy → CacheIR. */
import { compareStrings } from '../../ir/order.js';
import type { CacheIR, PolicyRef } from '../../ir/types.js';
import type { CachePolicy } from '../../schema/kinds.js';
import { durationMs } from '../duration.js';

const METHOD_ORDER = ['GET', 'HEAD', 'POST'] as const;

export function compileCache(policy: CachePolicy, source: PolicyRef): CacheIR {
  const s = policy.spec;
  const ttlMs = durationMs(s.ttl);
  return {
    namespace: `${source.namespace}/${source.name}`,
    ttlMs,
    methods: METHOD_ORDER.filter((m) => s.methods.includes(m)),
    statuses: [...new Set(s.statuses)].sort((a, b) => a - b),
    key: {
      query: s.key.query,
      headers: [...new Set((s.key.headers ?? []).map((h) => h.toLowerCase()))].sort(compareStrings),
      body: s.key.body,
      isolation: s.key.isolation,
    },
    maxBodyBytes: s.maxBodyBytes,
    respectCacheControl: s.respectCacheControl,
    l1: { maxEntries: s.l1.maxEntries, maxBytes: s.l1.maxBytes, ttlMs: s.l1.ttl !== undefined ? durationMs(s.l1.ttl) : ttlMs },
    l2: { enabled: s.l2.enabled, ttlMs: s.l2.ttl !== undefined ? durationMs(s.l2.ttl) : ttlMs },
    ...(s.staleWhileRevalidate !== undefined ? { staleWhileRevalidateMs: durationMs(s.staleWhileRevalidate) } : {}),
    ...(s.staleIfError !== undefined ? { staleIfErrorMs: durationMs(s.staleIfError) } : {}),
    coalescing: {
      enabled: s.coalescing.enabled,
      maxWaitMs: durationMs(s.coalescing.maxWait),
      acrossReplicas: s.coalescing.acrossReplicas,
    },
    invalidation: {
      tagsHeader: s.invalidation.tagsHeader.toLowerCase(),
      maxTagsPerEntry: s.invalidation.maxTagsPerEntry,
      crossInstance: s.invalidation.crossInstance,
    },
    source,
  };
}
