/** Compiled CachePolicy of a route (seed §7). */
import { Type } from '@sinclair/typebox';
import { Millis, Name, PolicyRef, Positive, StatusCode, literals } from './common.js';

export const CacheIR = Type.Object({
  /** Key prefix shared by every route of the policy: `<policy namespace>/<policy name>`. */
  namespace: Name,
  ttlMs: Millis,
  /** Sorted. */
  methods: Type.Array(literals(['GET', 'HEAD', 'POST'] as const), { minItems: 1 }),
  /** Sorted. */
  statuses: Type.Array(StatusCode, { minItems: 1 }),
  key: Type.Object({
    query: literals(['All', 'None'] as const),
    /** Lower case, sorted. */
    headers: Type.Array(Name),
    body: Type.Boolean(),
    /** Whose answers a request may get: the same user's, the same tenant's, or anyone's. */
    isolation: literals(['User', 'Tenant', 'None'] as const),
  }),
  maxBodyBytes: Positive,
  respectCacheControl: Type.Boolean(),
  /** In-process LRU; ttlMs defaults to the policy's ttl. */
  l1: Type.Object({ maxEntries: Positive, maxBytes: Positive, ttlMs: Millis }),
  /** Redis level; ttlMs defaults to the policy's ttl. */
  l2: Type.Object({ enabled: Type.Boolean(), ttlMs: Millis }),
  staleWhileRevalidateMs: Type.Optional(Millis),
  staleIfErrorMs: Type.Optional(Millis),
  /** acrossReplicas: one gateway of the cluster fetches while the others wait (a Redis lock). */
  coalescing: Type.Object({ enabled: Type.Boolean(), maxWaitMs: Millis, acrossReplicas: Type.Boolean() }),
  invalidation: Type.Object({
    /** Lower case. */
    tagsHeader: Name,
    maxTagsPerEntry: Positive,
    crossInstance: Type.Boolean(),
  }),
  /** The policy this comes from. */
  source: PolicyRef,
});
