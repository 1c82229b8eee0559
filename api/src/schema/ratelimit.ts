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
/** Output tokens reserved by an LLM request that sets no output ceiling (cost llmTokens). */
export const DEFAULT_OUTPUT_TOKENS = 1024;
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
        "Charge LLM tokens of an OpenAI-compatible call: Input (the prompt), Output (the completion) or Total (both). The gateway reads such bodies (up to --inspect-body-bytes; malformed JSON gets 400). At admission the request reserves an estimate: the prompt text at about 4 characters per token, and as output the request's max_completion_tokens, max_tokens or max_output_tokens, or defaultOutputTokens when it sets none (a reservation is capped at the level's capacity). When the answer comes, the gateway reads its usage (prompt_tokens/completion_tokens/total_tokens, or input_tokens/output_tokens) from a JSON body of at most 1 MiB, or from the chunk of a text/event-stream answer that carries it (OpenAI's stream_options.include_usage), and charges or refunds the difference in the same counters. An answer without usage keeps the reservation (counted in jarvis_gateway_llm_usage_missing_total); a request that gets no upstream answer is refunded its output reservation. A request without such a body reserves 1 and is settled from usage the same way.",
        ['Input', 'Output', 'Total'] as const,
      ),
    ),
    defaultOutputTokens: optional(
      int(
        `With llmTokens: the output tokens a request reserves when it sets no max_completion_tokens, max_tokens or max_output_tokens; settled from the answer's usage like any reservation. Defaults to ${DEFAULT_OUTPUT_TOKENS}.`,
        { minimum: 1, maximum: 10_000_000 },
      ),
    ),
  },
  {
    rules: [
      {
        rule: '[has(self.fixed), has(self.header), has(self.llmTokens)].filter(x, x).size() == 1',
        message: 'exactly one of fixed, header and llmTokens must be set',
      },
      {
        rule: '!has(self.defaultOutputTokens) || has(self.llmTokens)',
        message: 'defaultOutputTokens applies only with llmTokens',
        fieldPath: '.defaultOutputTokens',
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

export const KEY_PART_TYPES = ['ClientIP', 'User', 'Tenant', 'Model', 'Route', 'Service', 'Header', 'Claim', 'QueryParam', 'Path'] as const;
export const MISSING_KEY_ACTIONS = ['Anonymous', 'Skip', 'Reject'] as const;
/** A JWT (or API key) claim name; nested claims use dots. */
export const CLAIM_PATTERN = '^[A-Za-z0-9_.:-]+$';
export const MAX_KEY_PARTS = 4;
export const MAX_PLANS = 16;

const claimName = (description: string) => str(description, { minLength: 1, maxLength: 256, pattern: CLAIM_PATTERN });

export const KeyPart = obj(
  'One part of a counter key: the request attribute whose value, together with the other parts, names the counter.',
  {
    type: oneOf(
      'ClientIP: the client address (through trusted proxies only; IPv6 by prefix). User, Tenant: the verified identity. Model: the model field of an OpenAI-compatible JSON body (the gateway reads the body on such routes). Route: the route (HTTPRoute rule). Service: the backend Service (a request counts once per Service of its route). Header, QueryParam: the value of the named request header or query parameter (credential-like names are counted by a digest, never by value). Claim: the named verified claim (JWT, or an API key entry). Path: the request path.',
      KEY_PART_TYPES,
    ),
    name: optional(
      str('The header, claim or query parameter name; required for Header, Claim and QueryParam. Nested claims use dots, e.g. org.id.', {
        minLength: 1,
        maxLength: 256,
        pattern: "^[A-Za-z0-9!#$%&'*+\\-.^_`|~:]+$",
      }),
    ),
  },
  {
    rules: [
      {
        rule: "(self.type == 'Header' || self.type == 'Claim' || self.type == 'QueryParam') == has(self.name)",
        message: 'name is required for the Header, Claim and QueryParam parts and not allowed otherwise',
        fieldPath: '.name',
      },
      {
        rule: `self.type != 'Claim' || !has(self.name) || self.name.matches('${CLAIM_PATTERN}')`,
        message: "a claim name has letters, digits, '_', '.', ':' and '-' only",
        fieldPath: '.name',
      },
      {
        rule: "self.type == 'Claim' || !has(self.name) || !self.name.contains(':')",
        message: 'a header or query parameter name has no colon',
        fieldPath: '.name',
      },
    ],
  },
);
export type KeyPart = Static<typeof KeyPart>;

export const ValueCondition = obj(
  'A condition on a request header or query parameter.',
  {
    name: headerName('Header name (case-insensitive) or query parameter name (exact).'),
    type: oneOf(
      'Exact: the value equals value. RegularExpression: value is an RE2 pattern that must match the whole value. Present: the header or parameter is there, whatever its value.',
      ['Exact', 'RegularExpression', 'Present'] as const,
      { default: 'Exact' },
    ),
    value: optional(str('The value or pattern; not with type Present.', { maxLength: 4096 })),
    invert: bool('The condition holds when the match fails (for Present: when the header or parameter is absent).', { default: false }),
  },
  {
    rules: [
      {
        rule: "(self.type == 'Present') != has(self.value)",
        message: 'value is required unless type is Present, and not allowed with Present',
        fieldPath: '.value',
      },
    ],
  },
);

export const PathCondition = obj(
  'A condition on the request path (after normalization).',
  {
    type: oneOf(
      'Exact: the whole path. PathPrefix: by path segment (/api matches /api and /api/x, not /apix). RegularExpression: an RE2 pattern that must match the whole path.',
      ['Exact', 'PathPrefix', 'RegularExpression'] as const,
      { default: 'PathPrefix' },
    ),
    value: str('The path, prefix or pattern.', { minLength: 1, maxLength: 1024 }),
    invert: bool('The condition holds when the path does not match.', { default: false }),
  },
  {
    rules: [
      {
        rule: "self.type == 'RegularExpression' || self.value.startsWith('/')",
        message: 'an Exact or PathPrefix value starts with /',
        fieldPath: '.value',
      },
    ],
  },
);

export const ModelCondition = obj(
  'A condition on the model of an OpenAI-compatible JSON request (its model field); the gateway reads the body on such routes. A request without a model does not match.',
  {
    type: oneOf(
      'Exact: the model name as is. RegularExpression: an RE2 pattern that must match the whole name.',
      ['Exact', 'RegularExpression'] as const,
      {
        default: 'Exact',
      },
    ),
    value: str('The model name or pattern.', { minLength: 1, maxLength: 256 }),
    invert: bool('The condition holds when the model does not match (a request without a model too).', { default: false }),
  },
);

export const LimitWhen = obj('Only count requests that match all of these conditions.', {
  methods: optional(list('HTTP methods to count.', oneOf('An HTTP method.', HTTP_METHODS), { minItems: 1, maxItems: 7, listType: 'set' })),
  path: optional(PathCondition),
  headers: optional(list('Headers that must match.', ValueCondition, { minItems: 1, maxItems: 8, listType: 'atomic' })),
  queryParams: optional(list('Query parameters that must match.', ValueCondition, { minItems: 1, maxItems: 8, listType: 'atomic' })),
  model: optional(ModelCondition),
});

export const PlanRate = obj(
  "The limit's rate for callers on one plan.",
  {
    name: str('The plan, as the plan claim names it.', {
      minLength: 1,
      maxLength: 63,
      pattern: '^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$',
    }),
    rate: Rate,
    burst: optional(burst('Burst on this plan.')),
  },
  { rules: [burstAtLeastRate] },
);

export const Limit = obj(
  'One level of limiting. All levels of a request are checked together: the request is admitted only if every level admits it, and a level that rejects consumes nothing at any level.',
  {
    name: labelName('Name of the level, unique in the policy; reported in RateLimit-Policy headers, problem details and metrics.'),
    scope: optional(
      oneOf(
        'What is counted separately, as one attribute (exactly one of scope and key). Global: one counter for every request the policy applies to. Route: one per route. Service: one per backend Service. ClientIP: one per client address (through trusted proxies only; IPv6 by prefix). User and Tenant: one per verified identity. Header: one per value of a request header. Claim: one per value of a JWT claim. scope X is the same counter as key [{type: X}] (Header and Claim with the name).',
        RATE_LIMIT_SCOPES,
      ),
    ),
    key: optional(
      list(
        `What is counted separately, as a composite of up to ${MAX_KEY_PARTS} attributes (exactly one of scope and key): one counter per combination of their values, e.g. [Tenant, Model] for a per-tenant-per-model quota.`,
        KeyPart,
        {
          minItems: 1,
          maxItems: MAX_KEY_PARTS,
          listType: 'atomic',
          rules: [
            {
              rule: 'self.all(a, self.exists_one(b, a.type == b.type && (has(a.name) ? (has(b.name) && a.name == b.name) : !has(b.name))))',
              message: 'a key names each part once',
            },
          ],
        },
      ),
    ),
    header: optional(headerName('The header whose value is the key; required when scope is Header.')),
    claim: optional(claimName('The JWT claim whose value is the key; required when scope is Claim. Nested claims use dots, e.g. org.id.')),
    onMissingKey: oneOf(
      'What a request without a value for the key (no user, no tenant, no such header, claim, query parameter or model) does at this level. Anonymous: every such request shares one anonymous counter of the level (per value of the other parts). Skip: the level does not count it. Reject: the gateway refuses it with 403 (problem type limit-key-missing); in Shadow mode it is only reported.',
      MISSING_KEY_ACTIONS,
      { default: 'Anonymous' },
    ),
    shared: bool(
      'true: every route this level applies to (through every target of the policy, and every route that inherits it) counts on the same counters. false: each route (HTTPRoute rule) counts on its own, as if Route were a key part.',
      { default: true },
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
    plans: optional(
      list(
        `Rates per plan (at most ${MAX_PLANS}): a caller whose plan claim names one of them gets its rate (and burst) instead of rate; a caller without the claim, or on another plan, gets rate. A tenantOverrides entry naming the caller's tenant takes precedence.`,
        PlanRate,
        { minItems: 1, maxItems: MAX_PLANS, listType: 'map', mapKeys: ['name'] },
      ),
    ),
    planClaim: optional(
      claimName(
        "The verified claim that names the caller's plan: a JWT claim, or a claim of the caller's API key entry (nested claims use dots). Only with plans; plan when left out.",
      ),
    ),
    tenantOverrides: optional(
      list(
        'Per-tenant quotas, for exceptions: they replace rate (and burst) for the named tenants; only when the key is the tenant (scope Tenant, or a Tenant key part).',
        TenantOverride,
        {
          minItems: 1,
          maxItems: 64,
          listType: 'atomic',
        },
      ),
    ),
  },
  {
    rules: [
      {
        rule: 'has(self.scope) != has(self.key)',
        message: 'exactly one of scope and key must be set',
      },
      {
        rule: "(has(self.scope) && self.scope == 'Header') == has(self.header)",
        message: 'header is required when scope is Header and not allowed otherwise',
        fieldPath: '.header',
      },
      {
        rule: "(has(self.scope) && self.scope == 'Claim') == has(self.claim)",
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
        rule: `self.algorithm != 'SlidingLog' || !has(self.plans) || self.plans.all(p, p.rate.requests <= ${SLIDING_LOG_MAX_REQUESTS})`,
        message: `SlidingLog keeps every request: plans[].rate.requests must be at most ${SLIDING_LOG_MAX_REQUESTS}`,
        fieldPath: '.plans',
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
        rule: "!has(self.plans) || self.algorithm == 'TokenBucket' || self.algorithm == 'GCRA' || self.plans.all(p, !has(p.burst))",
        message: 'plans[].burst applies only to the TokenBucket and GCRA algorithms',
        fieldPath: '.plans',
      },
      {
        rule: "!has(self.tenantOverrides) || (has(self.scope) && self.scope == 'Tenant') || (has(self.key) && self.key.exists(p, p.type == 'Tenant'))",
        message: 'tenantOverrides apply only to a level keyed by tenant (scope Tenant, or a Tenant key part)',
        fieldPath: '.tenantOverrides',
      },
      {
        rule: '!has(self.planClaim) || has(self.plans)',
        message: 'planClaim applies only with plans',
        fieldPath: '.planClaim',
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
