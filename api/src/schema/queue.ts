/** QueuePolicy: concurrency, priority and fair queues with deadlines, async mode and a DLQ. */
import { HEADER_NAME_PATTERN, duration, int, intOneOf, isDuration, list, obj, oneOf, optional, str, type Static } from './builders.js';
import { TargetRefs, headerName, labelName } from './common.js';

export const PriorityClass = obj('A class of requests served before all classes of lower priority.', {
  name: labelName('Name of the class, unique in the policy.'),
  priority: int('Higher is served first.', { minimum: 0, maximum: 1000 }),
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
        obj('A request header with one of these values.', {
          name: headerName('Header name (case-insensitive).'),
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
    maxInFlight: int('Most requests sent upstream at once, per gateway replica.', { minimum: 1, maximum: 100_000 }),
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
      'Every request has a deadline; a request whose deadline passes while it waits is answered 504 and never reaches the upstream.',
      {
        default: duration('Deadline of a request that asks for none.', { min: '1ms', max: '1h', default: '30s' }),
        max: duration('Longest deadline a client may ask for.', { min: '1ms', max: '1h', default: '120s' }),
        header: str('Request header in which a client may ask for a shorter deadline, in milliseconds.', {
          minLength: 1,
          maxLength: 256,
          pattern: HEADER_NAME_PATTERN,
          default: 'x-request-deadline-ms',
        }),
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
    rejectStatus: intOneOf('Status of a request rejected because the queue is full.', [429, 503] as const, { default: 503 }),
    async: optional(
      obj(
        'Asynchronous submission: a client sending `Prefer: respond-async` gets 202 with a status URL, and the gateway retries the request in the background.',
        {
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
        },
      ),
    ),
    deadLetter: optional(
      obj('Dead-letter queue in a Redis Stream for requests that failed for good, with the reason.', {
        stream: optional(
          str('Name of the Redis Stream; defaults to jarvis:dlq:<namespace>/<name>.', {
            minLength: 1,
            maxLength: 256,
            pattern: '^[A-Za-z0-9:_./-]+$',
          }),
        ),
        maxLength: int('Approximate most entries kept (XADD MAXLEN ~).', { minimum: 1, maximum: 10_000_000, default: 100_000 }),
        retention: duration('Entries older than this are trimmed.', { min: '1m', max: '2160h', default: '168h' }),
      }),
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
        rule: '!has(self.deadLetter) || has(self.async)',
        message: 'deadLetter needs async: only asynchronous requests are dead-lettered',
        fieldPath: '.deadLetter',
      },
    ],
  },
);
export type QueuePolicySpec = Static<typeof QueuePolicySpec>;
