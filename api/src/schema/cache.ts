/** CachePolicy: two-level response cache with invalidation and request coalescing. */
import { bool, duration, int, isDuration, list, obj, oneOf, optional, type Static } from './builders.js';
import { TargetRefs, headerName, statusCodes } from './common.js';

const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Bounds of the freshness durations. */
const FRESHNESS = { min: '1ms', max: '720h' } as const;

export const CacheKey = obj(
  'What makes two requests the same for the cache. Method, route and path always count.',
  {
    query: oneOf('All: the whole query string (parameters sorted). None: ignore it.', ['All', 'None'] as const, { default: 'All' }),
    headers: optional(
      list('Request headers that are part of the key.', headerName('A header name.'), { minItems: 1, maxItems: 16, listType: 'set' }),
    ),
    body: bool(
      'Include a hash of the request body, needed for POST APIs such as LLM completions and RAG retrieval. A JSON body is hashed canonically (field order and spacing do not matter), any other body by its bytes; a body larger than the gateway reads before the upstream call (--request-buffer-bytes) is not cached.',
      { default: false },
    ),
    isolation: oneOf(
      'Who may be served an answer cached for another request. User: only the same verified user. Tenant: every user of the same tenant. None: every caller (only for answers that are the same for everyone). A request without the identity its scope needs is neither served from nor stored in the cache.',
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
    ttl: duration('How long a response stays fresh.', FRESHNESS),
    methods: list('Methods whose responses are cached.', oneOf('A method.', ['GET', 'HEAD', 'POST'] as const), {
      minItems: 1,
      maxItems: 3,
      listType: 'set',
      default: ['GET', 'HEAD'],
    }),
    statuses: statusCodes('Upstream statuses that are cached.', { default: [200], minItems: 1, maxItems: 16 }),
    key: CacheKey,
    maxBodyBytes: int('Responses larger than this are not cached.', { minimum: 1, maximum: MAX_BODY_BYTES, default: 1024 * 1024 }),
    respectCacheControl: bool(
      "Honour Cache-Control: a client's no-cache (or max-age=0) skips the lookup and its no-store the store; an upstream's no-store, no-cache or private keeps the response out. Responses with Set-Cookie, or a Vary naming a header outside key.headers, are never stored.",
      { default: true },
    ),
    l1: obj(
      'The in-process LRU of every gateway; entries of hot keys (values the RateLimitPolicy hotspot section flags) are pinned while hot.',
      {
        maxEntries: int('Most entries.', { minimum: 1, maximum: 10_000_000, default: 10_000 }),
        maxBytes: int('Most bytes held: bodies, headers and a small overhead per entry.', {
          minimum: 1024,
          maximum: 16 * 1024 * 1024 * 1024,
          default: 64 * 1024 * 1024,
          format: 'int64',
        }),
        ttl: optional(duration('A shorter freshness for L1 only; at most ttl.', FRESHNESS)),
      },
      { defaulted: true },
    ),
    l2: obj(
      'The shared Redis level.',
      {
        enabled: bool('Use Redis as the second level (on gateways started with --redis; without it, L1 only).', { default: true }),
        ttl: optional(duration('A different freshness for L2; at most ttl.', FRESHNESS)),
      },
      { defaulted: true },
    ),
    staleWhileRevalidate: optional(
      duration(
        'Serve a stale response up to this long after it expired while one identical request refreshes it from upstream.',
        FRESHNESS,
      ),
    ),
    staleIfError: optional(
      duration(
        'Serve a stale response up to this long after it expired instead of an upstream failure: a 5xx answer, no answer in time, no connection.',
        FRESHNESS,
      ),
    ),
    coalescing: obj(
      "Identical requests in flight at once wait for the first one's response instead of all going upstream.",
      {
        enabled: bool('Coalesce identical in-flight requests.', { default: true }),
        maxWait: duration('Longest a follower waits before it goes upstream itself.', { min: '1ms', max: '5m', default: '5s' }),
        acrossReplicas: bool(
          'Also coalesce across gateways: the first gateway to miss holds a Redis lock for at most maxWait while it fetches; the others serve a stale copy when staleWhileRevalidate allows, or wait for the answer to appear in Redis. Needs l2.',
          { default: false },
        ),
      },
      { defaulted: true },
    ),
    invalidation: obj(
      'Active invalidation through the admin API (POST /admin/cache/invalidate on any gateway): by key (the x-jarvis-cache-key response header, shown to a request sent with x-jarvis-cache-debug: key), by tag, or every entry of the policy. Every tag has a version number in Redis; bumping it invalidates every entry with that tag at once (no KEYS or SCAN). L1 entries on other gateways are invalidated through Redis pub/sub.',
      {
        tagsHeader: headerName('Upstream response header listing the tags of a response, comma-separated.', { default: 'x-cache-tags' }),
        maxTagsPerEntry: int('Most tags per entry; a response with more is not cached.', { minimum: 1, maximum: 64, default: 8 }),
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
        rule: `!has(self.l1.ttl) || !${isDuration('self.l1.ttl')} || !${isDuration('self.ttl')} || duration(self.l1.ttl) <= duration(self.ttl)`,
        message: 'l1.ttl must not be longer than ttl',
        fieldPath: '.l1.ttl',
      },
      {
        rule: `!has(self.l2.ttl) || !${isDuration('self.l2.ttl')} || !${isDuration('self.ttl')} || duration(self.l2.ttl) <= duration(self.ttl)`,
        message: 'l2.ttl must not be longer than ttl',
        fieldPath: '.l2.ttl',
      },
    ],
  },
);
export type CachePolicySpec = Static<typeof CachePolicySpec>;
