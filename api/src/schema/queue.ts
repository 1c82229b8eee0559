/** QueuePolicy: concurrency, priority and fair queues with deadlines, async mode and a DLQ. */
import {
  HEADER_NAME_PATTERN,
  bool,
  duration,
  int,
  intOneOf,
  isDuration,
  list,
  obj,
  oneOf,
  optional,
  percent,
  str,
  type Static,
} from './builders.js';
import { TargetRefs, headerName, labelName } from './common.js';

export const PriorityClass = obj('A class of requests served before all classes of lower priority.', {
  name: labelName('Name of the class, unique in the policy.'),
  priority: int('Higher is served first.', { minimum: 0, maximum: 1000 }),
  share: optional(
    percent(
      'Share of the dispatches this class gets while it has requests waiting, even when classes of higher priority wait too, so that it is never starved. Absent: strict priority. The shares of a policy add up to at most 100.',
      { minimum: 1, maximum: 100 },
    ),
  ),
  match: optional(
    obj('Which requests belong to this class; a request matching several classes takes the highest.', {
      tenants: optional(
        list('Verified tenant identifiers.', str('A tenant identifier.', { minLength: 1, maxLength: 253 }), {
          minItems: 1,
          maxItems: 256,
          listType: 'set',
        }),
      ),
      users: optional(
        list('Verified user identifiers.', str('A user identifier.', { minLength: 1, maxLength: 253 }), {
          minItems: 1,
          maxItems: 256,
          listType: 'set',
        }),
      ),
      header: optional(
        obj(
          'A request header with one of these values. A request that carries this header with a value that no class of the policy lists is refused (400 unknown-priority-class).',
          {
            name: headerName('Header name (case-insensitive).'),
            values: list('Accepted values.', str('A value.', { maxLength: 256 }), { minItems: 1, maxItems: 16, listType: 'set' }),
          },
        ),
      ),
      claim: optional(
        obj('A verified JWT claim (or API-key attribute) with one of these values.', {
          name: str('The claim; nested claims use dots, e.g. org.tier.', { minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_.:-]+$' }),
          values: list('Accepted values.', str('A value.', { maxLength: 256 }), { minItems: 1, maxItems: 16, listType: 'set' }),
        }),
      ),
    }),
  ),
});
export type PriorityClass = Static<typeof PriorityClass>;

export const QueuePolicySpec = obj(
  'A bound on the requests in flight to the targets, and a queue for the rest by priority and fairness, each with a deadline.',
  {
    targetRefs: TargetRefs,
    maxInFlight: optional(
      int(
        'Most requests sent upstream at once, per gateway replica. With adaptive, the highest the found limit may go (1000 when absent). Required unless adaptive is set.',
        { minimum: 1, maximum: 100_000 },
      ),
    ),
    adaptive: optional(
      obj(
        "Finds the in-flight limit from observed latency instead of a fixed maxInFlight (a gradient controller like Envoy's adaptive concurrency filter): once the calls of the current limit have been ending for sampleInterval, limit = limit × minRTT × (1 + buffer) / sampleRTT + √limit, the gradient clamped to [0.5, 2] and the limit to [minLimit, maxInFlight]; every minRTTInterval the limit is held at minLimit until minRTTSamples calls have measured minRTT again. When the limit shrinks, waiting requests that can no longer be served before their deadline are shed, lowest class first.",
        {
          minLimit: int('Lowest limit, and the limit while minRTT is measured.', { minimum: 1, maximum: 10_000, default: 3 }),
          buffer: percent('Latency increase over minRTT that is tolerated before the limit shrinks.', { default: 25 }),
          sampleInterval: duration('How long the calls of a limit are sampled before the limit is recomputed.', {
            min: '1ms',
            max: '1m',
            default: '100ms',
          }),
          minRTTInterval: duration('How often minRTT is measured again (jittered by up to 10 %).', {
            min: '1s',
            max: '24h',
            default: '60s',
          }),
          minRTTSamples: int('Calls that measure minRTT (their median).', { minimum: 1, maximum: 10_000, default: 50 }),
        },
      ),
    ),
    concurrencyScope: oneOf('Route counts in-flight requests per route; Backend per backend Service.', ['Route', 'Backend'] as const, {
      default: 'Route',
    }),
    maxQueued: int('Most requests waiting per gateway replica; 0 rejects at once when maxInFlight is reached.', {
      minimum: 0,
      maximum: 1_000_000,
      default: 100,
    }),
    priorityClasses: optional(
      list('Priority classes, e.g. VIP tenants first. Without classes the queue is first-in first-out.', PriorityClass, {
        minItems: 1,
        maxItems: 16,
        listType: 'map',
        mapKeys: ['name'],
      }),
    ),
    defaultPriorityClass: optional(labelName('The class of requests that match no class; must name one of priorityClasses.')),
    fairness: optional(
      obj(
        'Fair scheduling inside a priority class by deficit round robin, so one tenant cannot starve the others.',
        {
          key: oneOf('What a flow is.', ['Tenant', 'User', 'ClientIP', 'Header'] as const, { default: 'Tenant' }),
          header: optional(headerName('The header whose value names the flow; required when key is Header.')),
          quantum: int('Cost units a flow may send per round.', { minimum: 1, maximum: 1_000_000, default: 1 }),
          weights: optional(
            list(
              'Weights of named flows (e.g. a tenant that pays for more): a flow of weight w gets w quanta per round. Other flows weigh 1.',
              obj('The weight of one flow.', {
                value: str('The flow: a tenant, user, client address or header value.', { minLength: 1, maxLength: 253 }),
                weight: int('Quanta per round.', { minimum: 1, maximum: 1000 }),
              }),
              { minItems: 1, maxItems: 256, listType: 'map', mapKeys: ['value'] },
            ),
          ),
          maxFlows: int('Most flows tracked at once; beyond it, new flows share one overflow flow.', {
            minimum: 1,
            maximum: 1_000_000,
            default: 10_000,
          }),
        },
        {
          rules: [
            {
              rule: "(self.key == 'Header') == has(self.header)",
              message: 'header is required when key is Header and not allowed otherwise',
              fieldPath: '.header',
            },
          ],
        },
      ),
    ),
    deadline: obj(
      "Every request has a deadline; a request whose deadline passes while it waits is answered with rejectStatus and Retry-After and never reaches the upstream. What is left of the deadline when a request is sent is the upstream call's timeout, and the upstream receives it as x-jarvis-deadline (Unix time in milliseconds).",
      {
        default: duration('Deadline of a request that asks for none.', { min: '1ms', max: '1h', default: '30s' }),
        max: duration('Longest deadline a client may ask for.', { min: '1ms', max: '1h', default: '120s' }),
        header: str(
          'Request header in which a client may ask for a shorter deadline, in milliseconds (longer asks are cut to max; a value that is not a positive integer is refused with 400).',
          {
            minLength: 1,
            maxLength: 256,
            pattern: HEADER_NAME_PATTERN,
            default: 'x-request-deadline-ms',
          },
        ),
      },
      {
        defaulted: true,
        rules: [
          {
            rule: `!${isDuration('self.default')} || !${isDuration('self.max')} || duration(self.default) <= duration(self.max)`,
            message: 'default must not be longer than max',
            fieldPath: '.default',
          },
        ],
      },
    ),
    rejectStatus: intOneOf(
      'Status of a request rejected because the queue is full, shed for a request of a higher class, or whose deadline passed while it waited.',
      [429, 503] as const,
      { default: 503 },
    ),
    async: optional(
      obj(
        "Asynchronous jobs (needs the gateway's Redis): the request is stored in a Redis Stream of the route and answered 202 Accepted with a job URL (`/_jarvis/jobs/<id>` on the traffic listener: GET shows pending, running, done with the result, failed or cancelled; DELETE cancels). Worker loops of every gateway run the jobs under the same limit, priority and fairness, retry them with exponential backoff and jitter, and reclaim the jobs of a crashed gateway.",
        {
          trigger: oneOf(
            'Prefer: requests with `Prefer: respond-async` become jobs; Always: every request of the route does.',
            ['Prefer', 'Always'] as const,
            {
              default: 'Prefer',
            },
          ),
          maxAttempts: int('Attempts before a request is dead-lettered.', { minimum: 1, maximum: 20, default: 3 }),
          backoff: obj(
            'Exponential backoff between attempts, with jitter.',
            {
              initial: duration('Delay before the second attempt.', { min: '1ms', max: '1h', default: '1s' }),
              max: duration('Longest delay.', { min: '1ms', max: '24h', default: '60s' }),
            },
            {
              defaulted: true,
              rules: [
                {
                  rule: `!${isDuration('self.initial')} || !${isDuration('self.max')} || duration(self.initial) <= duration(self.max)`,
                  message: 'initial must not be longer than max',
                  fieldPath: '.initial',
                },
              ],
            },
          ),
          resultTTL: duration('How long a finished result can be fetched.', { min: '1s', max: '168h', default: '1h' }),
          attemptTimeout: duration('Upstream timeout of one attempt.', { min: '1ms', max: '1h', default: '30s' }),
          maxBodyBytes: int('Largest request body of a job (larger: 413).', { minimum: 0, maximum: 8_388_608, default: 1_048_576 }),
          maxResultBytes: int('Largest result body kept; a longer one is cut and marked truncated.', {
            minimum: 0,
            maximum: 8_388_608,
            default: 1_048_576,
          }),
          maxPending: int('Most jobs of a route not yet finished; beyond it submissions get rejectStatus.', {
            minimum: 1,
            maximum: 10_000_000,
            default: 100_000,
          }),
        },
      ),
    ),
    deadLetter: optional(
      obj(
        "Dead-letter queue in a Redis Stream for jobs that failed for good (and, with synchronous, requests that did), with the reason, attempts, timestamps and a redacted, size-capped copy of the request (never Authorization, Cookie, Proxy-Authorization or API-key headers); operators list, show, replay and purge it on the gateway's admin listener (/admin/dlq).",
        {
          stream: optional(
            str(
              "Name of the dead-letter stream inside the policy's namespace (Redis key jarvis:dlq:{<namespace>}:<stream>), so that one namespace cannot write into another's; defaults to the policy's name. Policies of one namespace that name the same stream share it.",
              { minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' },
            ),
          ),
          synchronous: bool(
            'Also dead-letter synchronous requests that failed for good (an upstream 5xx, timeout or unreachable upstream, after every fallback). The copy holds the body the gateway buffered (up to its --request-buffer-bytes); a larger, streamed body is stored cut and cannot be replayed.',
            { default: false },
          ),
          maxBodyBytes: int('Most bytes of a request body kept in an entry; a longer body is cut and marked truncated.', {
            minimum: 0,
            maximum: 1_048_576,
            default: 65_536,
          }),
          maxLength: int('Approximate most entries kept (XADD MAXLEN ~).', { minimum: 1, maximum: 10_000_000, default: 100_000 }),
          retention: duration('Entries older than this are trimmed.', { min: '1m', max: '2160h', default: '168h' }),
        },
      ),
    ),
  },
  {
    rules: [
      {
        rule: '!has(self.defaultPriorityClass) || (has(self.priorityClasses) && self.priorityClasses.exists(c, c.name == self.defaultPriorityClass))',
        message: 'defaultPriorityClass must name one of priorityClasses',
        fieldPath: '.defaultPriorityClass',
      },
      {
        rule: '!has(self.deadLetter) || has(self.async) || self.deadLetter.synchronous',
        message: 'deadLetter needs async or synchronous: true, or nothing is ever dead-lettered',
        fieldPath: '.deadLetter',
      },
      {
        rule: 'has(self.maxInFlight) || has(self.adaptive)',
        message: 'maxInFlight is required unless adaptive is set',
        fieldPath: '.maxInFlight',
        reason: 'FieldValueRequired',
      },
      {
        rule: '!has(self.adaptive) || !has(self.maxInFlight) || self.adaptive.minLimit <= self.maxInFlight',
        message: 'adaptive.minLimit must not exceed maxInFlight',
        fieldPath: '.adaptive.minLimit',
      },
    ],
  },
);
export type QueuePolicySpec = Static<typeof QueuePolicySpec>;
