/** RateLimitPolicy: multi-level limits and hot-key protection. */
import { bool, duration, int, isDuration, list, obj, oneOf, optional, percent, str, type Static } from './builders.js';
import { Rate, TargetRefs, headerName, labelName } from './common.js';

export const RATE_LIMIT_SCOPES = ['Global', 'Route', 'Service', 'ClientIP', 'User', 'Tenant', 'Header', 'Claim'] as const;
export const RATE_LIMIT_ALGORITHMS = ['TokenBucket', 'GCRA', 'SlidingWindow', 'SlidingLog', 'FixedWindow'] as const;

/** The algorithms with a burst (bucket capacity or GCRA tolerance). */
export function isBursty(algorithm: string): boolean {
  return algorithm === 'TokenBucket' || algorithm === 'GCRA';
}
export const SLIDING_LOG_MAX_REQUESTS = 1000;
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const burst = (what: string) =>
  int(
    `${what} The most requests (or cost units) admitted at once after an idle period: the bucket capacity for TokenBucket, the tolerance for GCRA. At least rate.requests; defaults to rate.requests.`,
    { minimum: 1, maximum: 1_000_000_000 },
  );

const burstAtLeastRate = {
  rule: '!has(self.burst) || self.burst >= self.rate.requests',
  message: 'burst must be greater than or equal to rate.requests',
  fieldPath: '.burst',
} as const;

const burstOnlyWhenBursty = {
  rule: "!has(self.burst) || self.algorithm == 'TokenBucket' || self.algorithm == 'GCRA'",
  message: 'burst applies only to the TokenBucket and GCRA algorithms',
  fieldPath: '.burst',
} as const;

const slidingLogBounded = {
  rule: `self.algorithm != 'SlidingLog' || self.rate.requests <= ${SLIDING_LOG_MAX_REQUESTS}`,
  message: `SlidingLog keeps every request: rate.requests must be at most ${SLIDING_LOG_MAX_REQUESTS}`,
  fieldPath: '.rate.requests',
} as const;

export const TenantOverride = obj(
  "A quota for named tenants that replaces the limit's rate for them, e.g. from their plan.",
  {
    tenants: list('Tenant identifiers this quota applies to.', str('A tenant identifier.', { minLength: 1, maxLength: 253 }), {
      minItems: 1,
      maxItems: 64,
      listType: 'set',
    }),
    rate: Rate,
    burst: optional(burst('Burst for these tenants.')),
  },
  { rules: [burstAtLeastRate] },
);

export const Cost = obj(
  'What one request costs against the limit. Exactly one of fixed, header and llmTokens.',
  {
    fixed: optional(int('A fixed cost per request.', { minimum: 1, maximum: 1_000_000 })),
    header: optional(
      headerName('Take the cost from this request header (a positive integer, capped at 1,000,000); a request without it costs 1.'),
    ),
    llmTokens: optional(
      oneOf(
        "Charge LLM tokens of an OpenAI-compatible JSON body, estimated before the call is sent: Input from the prompt text (about 4 characters per token), Output from the request's max_completion_tokens, max_tokens or max_output_tokens, Total both. The gateway reads such bodies (up to --inspect-body-bytes; malformed JSON gets 400); a request without one costs 1.",
        ['Input', 'Output', 'Total'] as const,
      ),
    ),
  },
  {
    rules: [
      {
        rule: '[has(self.fixed), has(self.header), has(self.llmTokens)].filter(x, x).size() == 1',
        message: 'exactly one of fixed, header and llmTokens must be set',
      },
    ],
  },
);

export const LimitAction = obj(
  'What happens to a request over the limit.',
  {
    type: oneOf(
      'Reject answers 429 with Retry-After and RateLimit headers. Wait (GCRA only) holds the request until the limit admits it, for at most maxWait, then rejects it.',
      ['Reject', 'Wait'] as const,
      { default: 'Reject' },
    ),
    maxWait: optional(duration('Longest a request may be held when type is Wait.', { min: '1ms', max: '60s' })),
  },
  {
    rules: [
      {
        rule: "self.type == 'Wait' ? has(self.maxWait) : !has(self.maxWait)",
        message: 'maxWait is required when type is Wait and not allowed otherwise',
        fieldPath: '.maxWait',
      },
    ],
  },
);

export const HeaderMatch = obj('An exact match on a request header.', {
  name: headerName('Header name (case-insensitive).'),
  value: str('Exact value.', { maxLength: 4096 }),
});

export const LimitWhen = obj('Only count requests that match all of these conditions.', {
  methods: optional(list('HTTP methods to count.', oneOf('An HTTP method.', HTTP_METHODS), { minItems: 1, maxItems: 7, listType: 'set' })),
  headers: optional(list('Headers that must match.', HeaderMatch, { minItems: 1, maxItems: 8, listType: 'atomic' })),
});

export const Limit = obj(
  'One level of limiting. All levels of a request are checked together: the request is admitted only if every level admits it, and a level that rejects consumes nothing at any level.',
  {
    name: labelName('Name of the level, unique in the policy; reported in RateLimit-Policy headers, problem details and metrics.'),
    scope: oneOf(
      'What is counted separately. Global: one counter for every request the policy applies to. Route: one per route. Service: one per backend Service. ClientIP: one per client address (through trusted proxies only; IPv6 by prefix). User and Tenant: one per verified identity. Header: one per value of a request header. Claim: one per value of a JWT claim.',
      RATE_LIMIT_SCOPES,
    ),
    header: optional(headerName('The header whose value is the key; required when scope is Header.')),
    claim: optional(
      str('The JWT claim whose value is the key; required when scope is Claim. Nested claims use dots, e.g. org.id.', {
        minLength: 1,
        maxLength: 256,
        pattern: '^[A-Za-z0-9_.:-]+$',
      }),
    ),
    algorithm: oneOf(
      'TokenBucket allows bursts up to burst and refills at rate. GCRA is the leaky bucket as a meter: strict spacing with a tolerance of burst. SlidingWindow weighs the previous window (approximate, constant memory). SlidingLog keeps every timestamp (exact, for limits of at most 1000). FixedWindow resets at window boundaries.',
      RATE_LIMIT_ALGORITHMS,
      { default: 'TokenBucket' },
    ),
    rate: Rate,
    burst: optional(burst('Only for TokenBucket and GCRA.')),
    cost: optional(Cost),
    action: optional(LimitAction),
    when: optional(LimitWhen),
    tenantOverrides: optional(
      list('Per-tenant quotas that replace rate (and burst) for the named tenants; only with scope Tenant.', TenantOverride, {
        minItems: 1,
        maxItems: 64,
        listType: 'atomic',
      }),
    ),
  },
  {
    rules: [
      {
        rule: "(self.scope == 'Header') == has(self.header)",
        message: 'header is required when scope is Header and not allowed otherwise',
        fieldPath: '.header',
      },
      {
        rule: "(self.scope == 'Claim') == has(self.claim)",
        message: 'claim is required when scope is Claim and not allowed otherwise',
        fieldPath: '.claim',
      },
      burstOnlyWhenBursty,
      burstAtLeastRate,
      slidingLogBounded,
      {
        rule: `self.algorithm != 'SlidingLog' || !has(self.tenantOverrides) || self.tenantOverrides.all(o, o.rate.requests <= ${SLIDING_LOG_MAX_REQUESTS})`,
        message: `SlidingLog keeps every request: tenantOverrides[].rate.requests must be at most ${SLIDING_LOG_MAX_REQUESTS}`,
        fieldPath: '.tenantOverrides',
      },
      {
        rule: "!has(self.action) || self.action.type != 'Wait' || self.algorithm == 'GCRA'",
        message: 'action Wait needs the GCRA algorithm',
        fieldPath: '.action.type',
      },
      {
        rule: "!has(self.tenantOverrides) || self.algorithm == 'TokenBucket' || self.algorithm == 'GCRA' || self.tenantOverrides.all(o, !has(o.burst))",
        message: 'tenantOverrides[].burst applies only to the TokenBucket and GCRA algorithms',
        fieldPath: '.tenantOverrides',
      },
      {
        rule: "!has(self.tenantOverrides) || self.scope == 'Tenant'",
        message: 'tenantOverrides apply only to scope Tenant',
        fieldPath: '.tenantOverrides',
      },
    ],
  },
);
export type Limit = Static<typeof Limit>;

export const HOT_KEY_SOURCES = ['Tenant', 'User', 'ClientIP', 'Model', 'Header', 'Query', 'PromptHash'] as const;

export const HotKeyParameter = obj(
  'A request attribute whose values are watched for heavy hitters.',
  {
    source: oneOf(
      'Tenant, User and ClientIP come from the verified identity; Model from the model field of an OpenAI-compatible body; Header and Query from the named header or query parameter; PromptHash from a hash of the prompt.',
      HOT_KEY_SOURCES,
    ),
    name: optional(headerName('Header or query parameter name; required for Header and Query.')),
  },
  {
    rules: [
      {
        rule: "(self.source == 'Header' || self.source == 'Query') == has(self.name)",
        message: 'name is required for the Header and Query sources and not allowed otherwise',
        fieldPath: '.name',
      },
    ],
  },
);

export const Hotspot = obj(
  'Hot-key protection: detects values that take an outsized share of the traffic, and routes that surge, and applies a stricter limit to them while they stay hot.',
  {
    parameters: list('Attributes to watch.', HotKeyParameter, { minItems: 1, maxItems: 8, listType: 'atomic' }),
    window: duration('Horizon of the decaying counts used for detection.', { min: '1s', max: '1h', default: '10s' }),
    topK: int('How many heavy hitters are tracked per parameter; memory does not depend on the number of distinct values.', {
      minimum: 1,
      maximum: 1000,
      default: 20,
    }),
    minRequests: int('No value is hot before the route has seen this many requests in the window.', {
      minimum: 1,
      maximum: 1_000_000,
      default: 100,
    }),
    activateSharePercent: percent("A value turns hot when its share of the route's traffic in the window reaches this.", {
      minimum: 1,
      default: 20,
    }),
    deactivateSharePercent: percent(
      'A hot value cools down only when its share falls below this (hysteresis); lower than activateSharePercent.',
      { default: 10 },
    ),
    cooldown: duration('A value stays hot for at least this long once detected; 0s: only as long as its share stays high.', {
      min: '0s',
      max: '1h',
      default: '30s',
    }),
    limit: obj(
      "The stricter limit applied to each hot value, on top of the policy's other levels.",
      {
        algorithm: oneOf('Algorithm of the hot-value limit.', RATE_LIMIT_ALGORITHMS, { default: 'TokenBucket' }),
        rate: Rate,
        burst: optional(burst('Burst of the hot-value limit.')),
      },
      { rules: [burstOnlyWhenBursty, burstAtLeastRate, slidingLogBounded] },
    ),
    routeSurge: optional(
      obj('Route surge detection: a route whose rate jumps above its own moving baseline, or far above its peers, is hot as a whole.', {
        multiplierPercent: int('Hot when the current rate reaches this percentage of the baseline (200 = twice).', {
          minimum: 110,
          maximum: 100_000,
          default: 200,
        }),
        baselineWindow: duration('Horizon of the moving baseline; longer than window.', { min: '1s', max: '24h', default: '5m' }),
        comparePeers: bool('Also compare with the average rate of the other routes of the gateway.', { default: true }),
      }),
    ),
  },
  {
    rules: [
      {
        rule: 'self.deactivateSharePercent < self.activateSharePercent',
        message: 'deactivateSharePercent must be lower than activateSharePercent',
        fieldPath: '.deactivateSharePercent',
      },
      {
        rule: `!has(self.routeSurge) || !${isDuration('self.window')} || !${isDuration('self.routeSurge.baselineWindow')} || duration(self.routeSurge.baselineWindow) > duration(self.window)`,
        message: 'routeSurge.baselineWindow must be longer than window',
        fieldPath: '.routeSurge.baselineWindow',
      },
    ],
  },
);

export const FailureMode = obj(
  'What the limits do when Redis is unreachable or slower than timeout.',
  {
    mode: oneOf(
      'Open admits requests (counting nothing). Closed rejects them with 503. Local enforces each limit in memory on every gateway, divided by expectedReplicas.',
      ['Open', 'Closed', 'Local'] as const,
      { default: 'Open' },
    ),
    timeout: duration(
      'How long a limit check may wait for Redis before the failure mode applies; each gateway caps it at its --redis-timeout (default 200ms).',
      { min: '1ms', max: '10s', default: '50ms' },
    ),
    expectedReplicas: int('Number of gateway replicas the Local mode divides each limit by.', {
      minimum: 1,
      maximum: 1000,
      default: 1,
    }),
  },
  { defaulted: true },
);

export const RateLimitPolicySpec = obj(
  'Rate limits for the targets: global, route, service, client IP, user, tenant and custom levels, with hot-key protection.',
  {
    targetRefs: TargetRefs,
    limits: list('The levels checked for every request, all in one step.', Limit, {
      minItems: 1,
      maxItems: 16,
      listType: 'map',
      mapKeys: ['name'],
    }),
    mode: oneOf('Enforce rejects (or delays) requests over a limit. Shadow only counts and reports them.', ['Enforce', 'Shadow'] as const, {
      default: 'Enforce',
    }),
    store: oneOf(
      'Redis shares the counters among all gateway replicas (all levels of a request in one round trip, all or nothing; concurrent requests share round trips). Memory counts on each replica alone.',
      ['Redis', 'Memory'] as const,
      { default: 'Redis' },
    ),
    failureMode: FailureMode,
    hotspot: optional(Hotspot),
  },
);
export type RateLimitPolicySpec = Static<typeof RateLimitPolicySpec>;
