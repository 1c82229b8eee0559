/** CachePolicy: two-level response cache with invalidation and request coalescing (seed §7, §6.2.2). */
import { bool, duration, int, list, obj, oneOf, optional, type Static } from './builders.js';
import { TargetRefs, headerName, statusCodes } from './common.js';

const MAX_BODY_BYTES = 64 * 1024 * 1024;

export const CacheKey = obj(
  'What makes two requests the same for the cache. Method and path always count.',
  {
    query: oneOf('All: the whole query string (parameters sorted). None: ignore it.', ['All', 'None'] as const, { default: 'All' }),
    headers: optional(
      list('Request headers that are part of the key.', headerName('A header name.'), { minItems: 1, maxItems: 16, listType: 'set' }),
    ),
    body: bool('Include a hash of the request body, needed for POST APIs such as LLM completions and RAG retrieval.', { default: false }),
    isolation: oneOf(
      'Who may be served an answer cached for another request. User: only the same verified user. Tenant: any user of the same tenant. None: every caller (only for answers that are the same for everyone). A request without the identity its scope needs is neither served from nor stored in the cache.',
      ['User', 'Tenant', 'None'] as const,
      { default: 'User' },
    ),
  },
  { defaulted: true },
);

export const CachePolicySpec = obj(
  'Response caching for the targets: a bounded in-process LRU (L1) in front of Redis (L2).',
  {
    targetRefs: TargetRefs,
    ttl: duration('How long a response stays fresh.'),
    methods: list('Methods whose responses are cached.', oneOf('A method.', ['GET', 'HEAD', 'POST'] as const), {
      minItems: 1,
      maxItems: 3,
      listType: 'set',
      default: ['GET', 'HEAD'],
    }),
    statuses: statusCodes('Upstream statuses that are cached.', { default: [200], maxItems: 16 }),
    key: CacheKey,
    maxBodyBytes: int('Responses larger than this are not cached.', { minimum: 1, maximum: MAX_BODY_BYTES, default: 1024 * 1024 }),
    respectCacheControl: bool('Honour Cache-Control no-store, no-cache and private from the client and the upstream.', { default: true }),
    l1: obj(
      'The in-process LRU of every gateway.',
      {
        maxEntries: int('Most entries.', { minimum: 1, maximum: 10_000_000, default: 10_000 }),
        maxBytes: int('Most bytes of bodies held.', {
          minimum: 1024,
          maximum: 16 * 1024 * 1024 * 1024,
          default: 64 * 1024 * 1024,
          format: 'int64',
        }),
        ttl: optional(duration('A shorter freshness for L1 only; at most ttl.')),
      },
      { defaulted: true },
    ),
    l2: obj(
      'The shared Redis level.',
      {
        enabled: bool('Use Redis as the second level.', { default: true }),
        ttl: optional(duration('A different freshness for L2; at most ttl.')),
      },
      { defaulted: true },
    ),
    staleWhileRevalidate: optional(duration('Serve a stale response this long after it expired while one request refreshes it.')),
    staleIfError: optional(duration('Serve a stale response this long after it expired when the upstream fails.')),
    coalescing: obj(
      "Identical requests in flight at once wait for the first one's response instead of all going upstream.",
      {
        enabled: bool('Coalesce identical in-flight requests.', { default: true }),
        maxWait: duration('Longest a follower waits before it goes upstream itself.', { default: '5s' }),
        acrossReplicas: bool(
          'Also coalesce across gateways: the first gateway to miss holds a Redis lock for at most maxWait while it fetches; the others serve a stale copy when staleWhileRevalidate allows, or wait for the answer to appear in Redis. Needs l2.',
          { default: false },
        ),
      },
      { defaulted: true },
    ),
    invalidation: obj(
      'Active invalidation. By key, and by tag: every tag has a version number in Redis; bumping it invalidates every entry with that tag at once (no KEYS or SCAN). L1 entries on other gateways are invalidated through Redis pub/sub.',
      {
        tagsHeader: headerName('Upstream response header listing the tags of a response, comma-separated.', { default: 'x-cache-tags' }),
        maxTagsPerEntry: int('Most tags recorded per entry.', { minimum: 1, maximum: 64, default: 8 }),
        crossInstance: bool('Broadcast invalidations to the L1 of every gateway.', { default: true }),
      },
      { defaulted: true },
    ),
  },
  {
    rules: [
      {
        rule: "!('POST' in self.methods) || self.key.body",
        message: 'caching POST needs key.body: true, or different bodies would share one entry',
        fieldPath: '.key.body',
      },
      {
        rule: '!self.coalescing.acrossReplicas || self.l2.enabled',
        message: 'coalescing.acrossReplicas needs l2.enabled: the gateways meet in Redis',
        fieldPath: '.coalescing.acrossReplicas',
      },
      {
        rule: '!has(self.l1.ttl) || duration(self.l1.ttl) <= duration(self.ttl)',
        message: 'l1.ttl must not be longer than ttl',
        fieldPath: '.l1.ttl',
      },
      {
        rule: '!has(self.l2.ttl) || duration(self.l2.ttl) <= duration(self.ttl)',
        message: 'l2.ttl must not be longer than ttl',
        fieldPath: '.l2.ttl',
      },
    ],
  },
);
export type CachePolicySpec = Static<typeof CachePolicySpec>;
