/** CircuitBreakerPolicy: per-backend breakers, outlier detection and active health checks. */
import { bool, duration, int, isDuration, obj, oneOf, optional, percent, str, type Static } from './builders.js';
import { TargetRefs, statusCodes } from './common.js';

export const Breaker = obj(
  'The breaker of each backend: CLOSED passes calls and counts failures; OPEN fails fast (or falls back); after openDuration, HALF_OPEN lets a few probe calls through and closes on success.',
  {
    failureStatusCodes: statusCodes(
      'Upstream statuses that count as failures. Any other 4xx is neutral (counted neither way, like a client that went away); any other status is a success.',
      { default: [500, 502, 503, 504] },
    ),
    countTimeouts: bool('Count upstream timeouts (per try, or of the whole request) as failures.', { default: true }),
    countConnectErrors: bool('Count refused or reset connections (before an answer) as failures.', { default: true }),
    consecutiveFailures: optional(int('Open after this many failures in a row, whatever the rate.', { minimum: 1, maximum: 10_000 })),
    failureRatePercent: percent('Open when the failure rate in the window reaches this.', { minimum: 1, default: 50 }),
    slowCall: optional(
      obj('Calls slower than threshold count as slow; open when the slow-call rate reaches ratePercent.', {
        threshold: duration(
          'A request whose answer started (its status and headers arrived) later than this after it was sent, or that failed later than this, is slow.',
          { min: '1ms', max: '10m' },
        ),
        ratePercent: percent('Slow-call rate that opens the breaker.', { minimum: 1, default: 100 }),
      }),
    ),
    window: obj(
      'The sliding window the rates are computed over.',
      {
        type: oneOf('Count: the last size calls. Time: the calls of the last duration.', ['Count', 'Time'] as const, { default: 'Count' }),
        size: int('Number of calls in a Count window.', { minimum: 1, maximum: 10_000, default: 100 }),
        duration: optional(duration('Length of a Time window.', { min: '1s', max: '1h' })),
      },
      {
        defaulted: true,
        rules: [
          {
            rule: "(self.type == 'Time') == has(self.duration)",
            message: 'duration is required for a Time window and not allowed for a Count window',
            fieldPath: '.duration',
          },
        ],
      },
    ),
    minimumCalls: int('No rate opens the breaker before the window holds this many calls.', {
      minimum: 1,
      maximum: 10_000,
      default: 10,
    }),
    halfOpen: obj(
      'The HALF_OPEN state.',
      {
        maxProbes: int('Most calls let through at once while HALF_OPEN.', { minimum: 1, maximum: 100, default: 3 }),
        successThreshold: int('Successful probes that close the breaker; one failed probe opens it again.', {
          minimum: 1,
          maximum: 100,
          default: 2,
        }),
        probeTimeout: duration('A probe that has neither answered nor failed after this long counts as failed: the breaker opens again.', {
          min: '1ms',
          max: '1h',
          default: '10s',
        }),
      },
      {
        defaulted: true,
        rules: [
          {
            rule: 'self.successThreshold <= self.maxProbes',
            message: 'successThreshold must not exceed maxProbes',
            fieldPath: '.successThreshold',
          },
        ],
      },
    ),
    openDuration: obj(
      'How long the breaker stays OPEN: base the first time, times multiplierPercent/100 each time it reopens from HALF_OPEN, at most max.',
      {
        base: duration('First open duration.', { min: '1ms', max: '24h', default: '60s' }),
        max: duration('Longest open duration.', { min: '1ms', max: '24h', default: '10m' }),
        multiplierPercent: int('Backoff factor in percent (200 doubles).', { minimum: 100, maximum: 1000, default: 200 }),
        jitterPercent: percent(
          'Each open duration is made shorter or longer at random by up to this share (never longer than max), so that breakers do not probe in step.',
          { default: 10 },
        ),
      },
      {
        defaulted: true,
        rules: [
          {
            rule: `!${isDuration('self.base')} || !${isDuration('self.max')} || duration(self.base) <= duration(self.max)`,
            message: 'base must not be longer than max',
            fieldPath: '.base',
          },
        ],
      },
    ),
  },
  {
    rules: [
      {
        rule: `!has(self.slowCall) || self.window.type != 'Time' || !has(self.window.duration) || !${isDuration('self.slowCall.threshold')} || !${isDuration('self.window.duration')} || duration(self.slowCall.threshold) < duration(self.window.duration)`,
        message: 'slowCall.threshold must be shorter than the time window',
        fieldPath: '.slowCall.threshold',
      },
    ],
  },
);

export const OutlierDetection = obj(
  'Passive outlier detection: endpoints (pods) that fail are ejected from load balancing for a while, and re-admitted after.',
  {
    interval: duration('How often ejections are evaluated.', { min: '100ms', max: '1h', default: '10s' }),
    consecutive5xx: int(
      'Eject an endpoint after this many 5xx answers or gateway errors (connection refused or reset, timeout) in a row (any 5xx counts, 500 included).',
      {
        minimum: 1,
        maximum: 10_000,
        default: 5,
      },
    ),
    consecutiveGatewayErrors: optional(
      int('Eject after this many 502, 503, 504 answers, connection errors or timeouts in a row.', { minimum: 1, maximum: 10_000 }),
    ),
    baseEjectionTime: duration(
      'Ejection time, multiplied by the number of times the endpoint was ejected (that number drops by one for each interval the endpoint spends admitted). An endpoint is re-admitted when its ejection time is over, or when its active health check turns healthy again after failing.',
      { min: '1ms', max: '24h', default: '30s' },
    ),
    maxEjectionTime: duration('Longest ejection.', { min: '1ms', max: '24h', default: '300s' }),
    maxEjectionPercent: percent('Most endpoints of a backend ejected at once; at least one endpoint always stays.', { default: 10 }),
    failurePercentage: optional(
      obj('Also eject endpoints whose failure percentage over an interval reaches thresholdPercent.', {
        thresholdPercent: percent('Failure percentage that ejects.', { minimum: 1, default: 85 }),
        minimumHosts: int('Only when the backend has at least this many endpoints.', { minimum: 1, maximum: 10_000, default: 5 }),
        requestVolume: int('Only endpoints with at least this many requests in the interval.', {
          minimum: 1,
          maximum: 1_000_000,
          default: 50,
        }),
      }),
    ),
    successRate: optional(
      obj(
        "Also eject endpoints whose success rate over an interval is more than stdevFactorPercent/100 standard deviations below the mean of the backend's endpoints (a call succeeds when it gets an answer below 500).",
        {
          minimumHosts: int('Only when at least this many endpoints of the backend had requestVolume requests in the interval.', {
            minimum: 1,
            maximum: 10_000,
            default: 5,
          }),
          requestVolume: int('Only endpoints with at least this many requests in the interval count.', {
            minimum: 1,
            maximum: 1_000_000,
            default: 100,
          }),
          stdevFactorPercent: int('How many standard deviations below the mean ejects, in hundredths (190: 1.9 σ).', {
            minimum: 1,
            maximum: 10_000,
            default: 190,
          }),
        },
      ),
    ),
  },
  {
    rules: [
      {
        rule: `!${isDuration('self.baseEjectionTime')} || !${isDuration('self.maxEjectionTime')} || duration(self.baseEjectionTime) <= duration(self.maxEjectionTime)`,
        message: 'baseEjectionTime must not be longer than maxEjectionTime',
        fieldPath: '.baseEjectionTime',
      },
    ],
  },
);

/** The HTTP probe of a type HTTP health check that has no `http` section. */
export const HTTP_PROBE_DEFAULTS = { path: '/healthz', method: 'GET', expectedStatuses: [200] } as const;

export const ActiveHealthCheck = obj(
  'Active health checks: each gateway probes every endpoint of the backend (the first probe at a random point of the first interval, then each interval less up to a tenth at random, so that gateways do not probe in step) and stops sending traffic to the ones that fail, on top of the readiness the EndpointSlice reports. An endpoint not probed yet counts as healthy. Probes never hold up requests.',
  {
    type: oneOf('HTTP sends a request and checks the status; TCP only connects.', ['HTTP', 'TCP'] as const, { default: 'HTTP' }),
    interval: duration('Time between probes of one endpoint.', { min: '100ms', max: '1h', default: '5s' }),
    timeout: duration('A probe without an answer in this time fails; shorter than interval.', { min: '1ms', max: '1h', default: '1s' }),
    unhealthyThreshold: int('Failed probes in a row that mark an endpoint unhealthy.', { minimum: 1, maximum: 100, default: 3 }),
    healthyThreshold: int('Passed probes in a row that mark it healthy again.', { minimum: 1, maximum: 100, default: 2 }),
    http: optional(
      obj(
        `The HTTP probe; only when type is HTTP. Without it, type HTTP sends GET ${HTTP_PROBE_DEFAULTS.path} and expects ${HTTP_PROBE_DEFAULTS.expectedStatuses.join(', ')}.`,
        {
          path: str('Request path.', { minLength: 1, maxLength: 1024, pattern: '^/[^\\s]*$', default: HTTP_PROBE_DEFAULTS.path }),
          method: oneOf('Request method.', ['GET', 'HEAD'] as const, { default: HTTP_PROBE_DEFAULTS.method }),
          expectedStatuses: statusCodes('Statuses that pass.', {
            default: HTTP_PROBE_DEFAULTS.expectedStatuses,
            minItems: 1,
            maxItems: 16,
          }),
        },
      ),
    ),
  },
  {
    rules: [
      {
        rule: `!${isDuration('self.timeout')} || !${isDuration('self.interval')} || duration(self.timeout) < duration(self.interval)`,
        message: 'timeout must be shorter than interval',
        fieldPath: '.timeout',
      },
      {
        rule: "self.type == 'HTTP' || !has(self.http)",
        message: 'http is allowed only when type is HTTP',
        fieldPath: '.http',
      },
    ],
  },
);

export const Retry = obj(
  'Retries of a failed call to another endpoint of the backend, within a retry budget. Only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) are retried, and any method whose call never reached the endpoint (the connection was refused or could not be made); a request whose body was streamed to the endpoint is not retried. Nothing is retried once the answer has started to reach the client.',
  {
    attempts: int('Most retries after the first try.', { minimum: 1, maximum: 10, default: 2 }),
    perTryTimeout: optional(
      duration(
        "Each try, the first included, fails as a timeout when its whole answer has not arrived in this time (an HTTPRoute rule's timeouts.backendRequest, when shorter, applies instead).",
        { min: '1ms', max: '1h' },
      ),
    ),
    retryOn: obj(
      'What is retried.',
      {
        statusCodes: statusCodes('Upstream statuses that are retried.', { default: [502, 503, 504] }),
        timeouts: bool('Retry a try that timed out.', { default: true }),
        connectErrors: bool('Retry a try whose connection was refused or reset before an answer.', { default: true }),
      },
      { defaulted: true },
    ),
    backoff: obj(
      "The wait before each retry: a random time up to base × 2^(retry − 1), at most max (full jitter). An answer's Retry-After is waited for instead when it is longer and not longer than max; an answer whose Retry-After is longer than max is not retried.",
      {
        base: duration('Backoff of the first retry.', { min: '0s', max: '1m', default: '25ms' }),
        max: duration('Longest wait before a retry.', { min: '0s', max: '1m', default: '250ms' }),
      },
      {
        defaulted: true,
        rules: [
          {
            rule: `!${isDuration('self.base')} || !${isDuration('self.max')} || duration(self.base) <= duration(self.max)`,
            message: 'base must not be longer than max',
            fieldPath: '.base',
          },
        ],
      },
    ),
    budget: obj(
      'The retry budget of each gateway and backend (the model of Envoy and Finagle): a retry is allowed while the retries in flight are fewer than percent of the requests in flight, or else while a token bucket that refills at minRetriesPerSecond (holding one second of them) has a token. Past the budget, the failed answer stands.',
      {
        percent: percent('Retries in flight allowed, as a share of the requests in flight to the backend.', { default: 20 }),
        minRetriesPerSecond: int('Retries per second allowed beyond the share.', { minimum: 0, maximum: 10_000, default: 10 }),
      },
      { defaulted: true },
    ),
  },
);

export const CircuitBreakerPolicySpec = obj(
  'Breakers, retries, outlier detection and health checks for the backends of the targets (each Service port): the automatic traffic switching away from failing backends and pods, enforced by each gateway on its own traffic.',
  {
    targetRefs: TargetRefs,
    breaker: optional(Breaker),
    outlierDetection: optional(OutlierDetection),
    activeHealthCheck: optional(ActiveHealthCheck),
    retry: optional(Retry),
    panicThresholdPercent: percent(
      "When fewer than this share of a backend's ready endpoints are healthy and not ejected, the gateway sends to all of its ready endpoints (panic mode: health checks and outlier detection never take a backend down to nothing). 0 turns panic mode off.",
      { default: 50 },
    ),
  },
  {
    rules: [
      {
        rule: 'has(self.breaker) || has(self.outlierDetection) || has(self.activeHealthCheck) || has(self.retry)',
        message: 'at least one of breaker, outlierDetection, activeHealthCheck and retry must be set',
      },
    ],
  },
);
export type CircuitBreakerPolicySpec = Static<typeof CircuitBreakerPolicySpec>;
