/** CircuitBreakerPolicy: per-backend breakers, outlier detection and active health checks. */
import { bool, duration, int, isDuration, obj, oneOf, optional, percent, str, type Static } from './builders.js';
import { TargetRefs, statusCodes } from './common.js';

export const Breaker = obj(
  'The breaker of each backend: CLOSED passes calls and counts failures; OPEN fails fast (or falls back); after openDuration, HALF_OPEN lets a few probe calls through and closes on success.',
  {
    failureStatusCodes: statusCodes('Upstream statuses that count as failures.', { default: [500, 502, 503, 504] }),
    countTimeouts: bool('Count upstream timeouts as failures.', { default: true }),
    countConnectErrors: bool('Count refused or reset connections as failures.', { default: true }),
    consecutiveFailures: optional(int('Open after this many failures in a row, whatever the rate.', { minimum: 1, maximum: 10_000 })),
    failureRatePercent: percent('Open when the failure rate in the window reaches this.', { minimum: 1, default: 50 }),
    slowCall: optional(
      obj('Calls slower than threshold count as slow; open when the slow-call rate reaches ratePercent.', {
        threshold: duration('A call slower than this is slow.', { min: '1ms', max: '10m' }),
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
    consecutive5xx: int('Eject an endpoint after this many 5xx answers in a row (any 5xx counts, 500 included).', {
      minimum: 1,
      maximum: 10_000,
      default: 5,
    }),
    consecutiveGatewayErrors: optional(
      int('Eject after this many 502, 503, 504 or connection errors in a row.', { minimum: 1, maximum: 10_000 }),
    ),
    baseEjectionTime: duration('Ejection time, multiplied by the number of times the endpoint was ejected.', {
      min: '1ms',
      max: '24h',
      default: '30s',
    }),
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
  'Active health checks: each gateway probes every endpoint and stops sending traffic to the ones that fail.',
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

export const CircuitBreakerPolicySpec = obj(
  'Breakers, outlier detection and health checks for the backends of the targets: the automatic traffic switching away from failing backends and pods.',
  {
    targetRefs: TargetRefs,
    breaker: optional(Breaker),
    outlierDetection: optional(OutlierDetection),
    activeHealthCheck: optional(ActiveHealthCheck),
  },
  {
    rules: [
      {
        rule: 'has(self.breaker) || has(self.outlierDetection) || has(self.activeHealthCheck)',
        message: 'at least one of breaker, outlierDetection and activeHealthCheck must be set',
      },
    ],
  },
);
export type CircuitBreakerPolicySpec = Static<typeof CircuitBreakerPolicySpec>;
