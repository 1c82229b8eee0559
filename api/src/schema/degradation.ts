/** DegradationPolicy: fallback chains, feature toggles, priority-class shedding and their triggers. */
import { bool, duration, int, isDuration, list, obj, oneOf, optional, percent, str, stringMap, type Static } from './builders.js';
import { BackendRef, TargetRefs, headerName, labelName, statusCodes } from './common.js';

const TOGGLE_NAME_PATTERN = '^[a-z0-9]([-_a-z0-9]*[a-z0-9])?$';

export const StaticResponse = obj('A response the gateway answers itself, e.g. an empty search result.', {
  status: int('HTTP status.', { minimum: 200, maximum: 599, default: 200 }),
  contentType: str('Content-Type of the body.', { maxLength: 256, default: 'application/json' }),
  body: str('The body.', { maxLength: 65_536, default: '' }),
  headers: optional(stringMap('Extra response headers.', { maxProperties: 16, valueMaxLength: 1024 })),
});

export const FallbackStep = obj(
  'One step of a fallback chain: a backend (for an LLM, optionally with the model to ask it for) or a static response.',
  {
    name: labelName('Name of the step, unique in the chain; reported in the x-jarvis-fallback response header and metrics.'),
    backendRef: optional(BackendRef),
    model: optional(
      str(
        'Rewrite the top-level model field of an OpenAI-compatible JSON request body to this model for this step (e.g. gpt-3.5-turbo); the rest of the body is sent unchanged.',
        {
          minLength: 1,
          maxLength: 256,
        },
      ),
    ),
    static: optional(StaticResponse),
    timeout: optional(
      duration(
        "Time limit of this step until its answer's head comes; the chain moves on when it runs out (with retryOn.timeouts). A committed answer is bound by the route's timeouts only.",
        { min: '1ms', max: '10m' },
      ),
    ),
  },
  {
    rules: [
      {
        rule: 'has(self.backendRef) != has(self.static)',
        message: 'exactly one of backendRef and static must be set',
      },
      { rule: '!has(self.model) || has(self.backendRef)', message: 'model needs a backendRef', fieldPath: '.model' },
    ],
  },
);
export type FallbackStep = Static<typeof FallbackStep>;

export const Fallback = obj(
  "An ordered fallback chain, in place of the route's backendRefs: when a step fails before its answer's head reached the client, the request goes to the next step. The route's timeouts.request bounds the whole chain (then only a static step still answers, else 504). The answer carries x-jarvis-fallback (the step that gave it) and x-jarvis-attempts (its position in steps reached, skipped ones included). LLM example: gpt-4 → gpt-3.5-turbo → claude-haiku → local-model. RAG example: vector search → keyword search → a static empty result.",
  {
    chain: list('The steps, in order; a static step may only come last.', FallbackStep, {
      minItems: 1,
      maxItems: 8,
      listType: 'map',
      mapKeys: ['name'],
      rules: [
        {
          rule: 'self.all(s, !has(s.static)) || (has(self[size(self) - 1].static) && self.filter(s, has(s.static)).size() == 1)',
          message: 'a static step may only be the last step of the chain',
        },
      ],
    }),
    retryOn: obj(
      'What makes a step fail over to the next.',
      {
        statusCodes: statusCodes('Upstream statuses.', { default: [429, 500, 502, 503, 504] }),
        timeouts: bool('Step timeouts.', { default: true }),
        connectErrors: bool('Refused or reset connections, and a backend without a ready endpoint.', { default: true }),
        breakerOpen: bool("An open circuit breaker of the step's backend (skips the step without trying it).", { default: true }),
      },
      { defaulted: true },
    ),
    whenTriggered: optional(
      obj('Proactive degradation: while any of these triggers is active, requests start at the named step.', {
        triggers: list('Names of triggers of this policy.', labelName('A trigger name.'), { minItems: 1, maxItems: 8, listType: 'set' }),
        startAt: labelName('Name of the step to start at.'),
      }),
    ),
  },
  {
    rules: [
      {
        rule: '!has(self.whenTriggered) || self.chain.exists(s, s.name == self.whenTriggered.startAt)',
        message: 'whenTriggered.startAt must name a step of the chain',
        fieldPath: '.whenTriggered.startAt',
      },
    ],
  },
);

export const TRIGGER_TYPES = ['ErrorRate', 'LatencyP95', 'CPU', 'Memory', 'EventLoopLag'] as const;

export const Trigger = obj(
  'A load signal of the route, evaluated every 250 ms: it activates at or above `activate` and deactivates only once it has stayed below `deactivate` for holdFor, so nothing flaps. Its state survives config reloads that leave the policy unchanged; GET /admin/features on the admin listener shows it.',
  {
    name: labelName('Name of the trigger, referenced by feature toggles, fallback.whenTriggered and shedPriorityClasses.'),
    type: oneOf(
      "ErrorRate: share of the route's upstream calls that failed (a 5xx answer, a timeout, no connection, a reset, an open breaker) in the window. LatencyP95: 95th percentile of the route's upstream calls' time to the response head (to the timeout for a call that timed out), from a log-histogram sketch within 1 % of the exact value. CPU: the gateway process's CPU time, as a percent of one core (its event loop runs on one). Memory: the gateway process's resident memory, as a percent of its cgroup's memory limit or else of the host's memory. EventLoopLag: the gateway's event-loop delay (99th percentile per second). CPU, Memory and EventLoopLag are sampled each second, and the trigger reads their mean over the window.",
      TRIGGER_TYPES,
    ),
    percent: optional(
      obj(
        'Thresholds of ErrorRate, CPU and Memory.',
        {
          activate: percent('Activate at or above this.'),
          deactivate: percent('Deactivate below this; lower than activate.'),
        },
        {
          rules: [{ rule: 'self.deactivate < self.activate', message: 'deactivate must be lower than activate', fieldPath: '.deactivate' }],
        },
      ),
    ),
    latency: optional(
      obj(
        'Thresholds of LatencyP95 and EventLoopLag.',
        {
          activate: duration('Activate at or above this.', { min: '1ms', max: '10m' }),
          deactivate: duration('Deactivate below this; shorter than activate.', { min: '1ms', max: '10m' }),
        },
        {
          rules: [
            {
              rule: `!${isDuration('self.deactivate')} || !${isDuration('self.activate')} || duration(self.deactivate) < duration(self.activate)`,
              message: 'deactivate must be shorter than activate',
              fieldPath: '.deactivate',
            },
          ],
        },
      ),
    ),
    window: duration('The signal is measured over this sliding window (ten sub-windows).', { min: '1s', max: '1h', default: '60s' }),
    minSamples: int(
      'ErrorRate and LatencyP95 have no value until the window holds this many calls: they do not activate, and an active one counts that as calm.',
      {
        minimum: 1,
        maximum: 1_000_000,
        default: 100,
      },
    ),
    holdFor: duration(
      'Deactivate only once the signal has stayed below `deactivate` (or had no value) this long without a break; an active trigger stays active at least this long.',
      { min: '0s', max: '1h', default: '30s' },
    ),
  },
  {
    rules: [
      {
        rule: "(self.type == 'ErrorRate' || self.type == 'CPU' || self.type == 'Memory') == has(self.percent)",
        message: 'percent thresholds are required for ErrorRate, CPU and Memory, and not allowed otherwise',
        fieldPath: '.percent',
      },
      {
        rule: "(self.type == 'LatencyP95' || self.type == 'EventLoopLag') == has(self.latency)",
        message: 'latency thresholds are required for LatencyP95 and EventLoopLag, and not allowed otherwise',
        fieldPath: '.latency',
      },
    ],
  },
);
export type Trigger = Static<typeof Trigger>;

export const FeatureToggle = obj(
  'A feature of the application. With disableWhen it is non-core (e.g. rerank, hybrid_search): off while any of those triggers is active; without, it is core: load never switches it off.',
  {
    name: str('Feature name as the application knows it.', { minLength: 1, maxLength: 63, pattern: TOGGLE_NAME_PATTERN }),
    enabled: bool('Manual override: false turns the feature off regardless of triggers.', { default: true }),
    disableWhen: optional(
      list('Names of triggers that switch the feature off while any of them is active.', labelName('A trigger name.'), {
        minItems: 1,
        maxItems: 8,
        listType: 'set',
      }),
    ),
  },
);

export const ShedRule = obj(
  "Load shedding by priority class: while any of `triggers` is active, the gateway refuses the requests of `classes` on the route at its queue at once — with the QueuePolicy's rejectStatus (503 by default), a Retry-After of at least the time the trigger stays active for (its holdFor), and a problem+json of type queue-shed naming the trigger — so they never reach the upstream; requests of those classes already waiting are refused the moment the trigger activates. Requests of other classes are served as before. Once every trigger of the rule has deactivated, the classes are admitted again. Async job submissions (QueuePolicy async) of these classes are still accepted, and their workers hold such jobs back while the trigger is active: each goes back to wait until the trigger may deactivate at the earliest, without counting an attempt. The classes are those of the route's QueuePolicy: on a route without a QueuePolicy, or for a name that is not one of its priority classes, nothing is shed, and the policy's Accepted condition says so.",
  {
    triggers: list('Names of triggers of this policy; the classes are shed while any of them is active.', labelName('A trigger name.'), {
      minItems: 1,
      maxItems: 8,
      listType: 'set',
    }),
    classes: list(
      "Names of priority classes of the route's QueuePolicy (priorityClasses[].name) to shed, e.g. batch.",
      labelName('A priority class name.'),
      { minItems: 1, maxItems: 16, listType: 'set' },
    ),
  },
);
export type ShedRule = Static<typeof ShedRule>;

export const DegradationPolicySpec = obj(
  'Graceful degradation for the targets: fallback chains, feature toggles and priority-class shedding driven by load triggers.',
  {
    targetRefs: TargetRefs,
    fallback: optional(Fallback),
    triggers: optional(list('Load signals with hysteresis.', Trigger, { minItems: 1, maxItems: 16, listType: 'map', mapKeys: ['name'] })),
    featureToggles: optional(
      list('Features of the application, and which triggers switch them off.', FeatureToggle, {
        minItems: 1,
        maxItems: 32,
        listType: 'map',
        mapKeys: ['name'],
      }),
    ),
    shedPriorityClasses: optional(
      list(
        "Priority classes of the route's QueuePolicy that the gateway sheds while triggers hold, lowest-value traffic first (e.g. batch while p95 latency is high).",
        ShedRule,
        { minItems: 1, maxItems: 8 },
      ),
    ),
    featureHeader: headerName(
      "Request header through which the upstream learns the state of every toggle on every request, in name order, e.g. `x-jarvis-features: hybrid_search=off, rerank=off, search=on`. The gateway sets it and replaces a client's own; the default header is also dropped from clients' requests on other routes. It may not name a header the gateway owns (hop-by-hop headers, Host, Content-Length, Content-Type, Authorization, Cookie, the identity and forwarding headers, x-jarvis-deadline).",
      { default: 'x-jarvis-features' },
    ),
  },
  {
    rules: [
      {
        rule: 'has(self.fallback) || has(self.featureToggles) || has(self.shedPriorityClasses)',
        message: 'at least one of fallback, featureToggles and shedPriorityClasses must be set',
      },
      {
        rule: '!has(self.featureToggles) || self.featureToggles.all(t, !has(t.disableWhen) || t.disableWhen.all(n, has(self.triggers) && self.triggers.exists(g, g.name == n)))',
        message: 'featureToggles[].disableWhen must name triggers of this policy',
        fieldPath: '.featureToggles',
      },
      {
        rule: '!has(self.fallback) || !has(self.fallback.whenTriggered) || self.fallback.whenTriggered.triggers.all(n, has(self.triggers) && self.triggers.exists(g, g.name == n))',
        message: 'fallback.whenTriggered.triggers must name triggers of this policy',
        fieldPath: '.fallback.whenTriggered.triggers',
      },
      {
        rule: '!has(self.shedPriorityClasses) || self.shedPriorityClasses.all(r, r.triggers.all(n, has(self.triggers) && self.triggers.exists(g, g.name == n)))',
        message: 'shedPriorityClasses[].triggers must name triggers of this policy',
        fieldPath: '.shedPriorityClasses',
      },
    ],
  },
);
export type DegradationPolicySpec = Static<typeof DegradationPolicySpec>;
