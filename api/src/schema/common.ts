/** Schema pieces shared by the five policy kinds. */
import {
  DNS_LABEL_PATTERN,
  DNS_SUBDOMAIN_PATTERN,
  HEADER_NAME_PATTERN,
  duration,
  int,
  list,
  obj,
  oneOf,
  optional,
  str,
  type Static,
} from './builders.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
export const TARGET_KINDS = ['Gateway', 'HTTPRoute', 'Service', 'Namespace'] as const;
/** The kinds an override may target: a Gateway, or the policy's whole namespace (see attachment.ts). */
export const OVERRIDE_TARGET_KINDS = ['Gateway', 'Namespace'] as const;
export const MAX_TARGET_REFS = 16;

export const TargetRef = obj(
  'A Gateway API object this policy attaches to (GEP-713 policy attachment), in the namespace of the policy.',
  {
    group: str(
      `API group of the target: ${GATEWAY_API_GROUP} for Gateway and HTTPRoute, the empty string for a core Service or Namespace.`,
      {
        maxLength: 253,
        pattern: `^$|${DNS_SUBDOMAIN_PATTERN}`,
      },
    ),
    kind: oneOf(
      "Kind of the target. Gateway: every route of that Gateway. Namespace (the policy's own namespace only): every route and backend Service in the namespace. Service: every route whose backend it is. HTTPRoute: that route, or one of its named rules. More specific targets take precedence over less specific ones for defaults; overrides (on a Gateway or Namespace only) take precedence over everything more specific.",
      TARGET_KINDS,
    ),
    name: str('Name of the target object.', { minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN }),
    sectionName: optional(
      str(
        'Optional part of the target: a listener name of a Gateway, a rule name of an HTTPRoute, or a port name of a Service (not for a Namespace). Without it the policy applies to the whole object.',
        { minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN },
      ),
    ),
  },
  {
    rules: [
      {
        rule: `self.kind == 'Service' || self.kind == 'Namespace' ? self.group == '' : self.group == '${GATEWAY_API_GROUP}'`,
        message: `group must be '${GATEWAY_API_GROUP}' for Gateway and HTTPRoute and '' for Service and Namespace`,
        fieldPath: '.group',
      },
      {
        rule: "self.kind != 'Namespace' || !has(self.sectionName)",
        message: 'a Namespace target has no sectionName',
        fieldPath: '.sectionName',
      },
    ],
  },
);
export type TargetRef = Static<typeof TargetRef>;

export const TargetRefs = list(
  `The objects this policy attaches to: from 1 to ${MAX_TARGET_REFS} Gateways, HTTPRoutes or Services in the policy's namespace, or that namespace itself (kind Namespace, name the policy's namespace).`,
  TargetRef,
  {
    minItems: 1,
    maxItems: MAX_TARGET_REFS,
    listType: 'atomic',
    rules: [
      {
        rule: 'self.all(a, self.exists_one(b, a.group == b.group && a.kind == b.kind && a.name == b.name && (has(a.sectionName) ? (has(b.sectionName) && a.sectionName == b.sectionName) : !has(b.sectionName))))',
        message: 'targetRefs must not name the same target twice',
        reason: 'FieldValueDuplicate',
      },
      {
        rule: 'self.all(a, self.all(b, a.group == b.group && a.kind == b.kind && a.name == b.name ? has(a.sectionName) == has(b.sectionName) : true))',
        message:
          'a target named more than once needs a sectionName in every reference: a reference without sectionName already covers the whole target',
      },
    ],
  },
);

/** A name used in metrics, headers and references: an RFC 1123 label. */
export function labelName(description: string) {
  return str(description, { minLength: 1, maxLength: 63, pattern: DNS_LABEL_PATTERN });
}

export function headerName(description: string, options: { readonly default?: string } = {}) {
  return str(description, { minLength: 1, maxLength: 256, pattern: HEADER_NAME_PATTERN, ...options });
}

export const Rate = obj('A number of requests (or cost units) per period.', {
  requests: int('How many requests, or cost units, are allowed per period.', { minimum: 1, maximum: 1_000_000_000 }),
  per: duration('The period, e.g. 1s for a QPS limit, 1m for a per-minute limit or 744h for a monthly quota.', {
    min: '1ms',
    max: '744h',
  }),
});
export type Rate = Static<typeof Rate>;

export const BackendRef = obj('A backend Service, in the namespace of the policy.', {
  name: str('Name of the Service.', { minLength: 1, maxLength: 253, pattern: DNS_LABEL_PATTERN }),
  port: optional(int('Port of the Service; may be left out when the Service has exactly one port.', { minimum: 1, maximum: 65535 })),
});
export type BackendRef = Static<typeof BackendRef>;

export const STATUS_CODE_MIN = 100;
export const STATUS_CODE_MAX = 599;

export function statusCodes(
  description: string,
  options: { readonly default?: readonly number[]; readonly maxItems?: number; readonly minItems?: number } = {},
) {
  return list(description, int('An HTTP status code.', { minimum: STATUS_CODE_MIN, maximum: STATUS_CODE_MAX }), {
    maxItems: options.maxItems ?? 32,
    ...(options.minItems !== undefined ? { minItems: options.minItems } : {}),
    listType: 'set',
    ...(options.default ? { default: options.default } : {}),
  });
}

export function stringSet(description: string, item: string, options: { readonly maxItems: number; readonly minItems?: number }) {
  return list(description, str(item, { minLength: 1, maxLength: 253 }), { listType: 'set', ...options });
}

/** Status condition, the shape of metav1.Condition. */
export const Condition = obj('One aspect of the current state of the policy.', {
  type: str('Type of the condition: Accepted or Enforced.', {
    minLength: 1,
    maxLength: 316,
    pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
  }),
  status: oneOf('Status of the condition.', ['True', 'False', 'Unknown'] as const),
  observedGeneration: optional(int('The .metadata.generation the condition was set for.', { minimum: 0, format: 'int64' })),
  lastTransitionTime: str('When the condition last changed status (RFC 3339).', { format: 'date-time', maxLength: 64 }),
  reason: str(
    'Machine-readable reason in CamelCase. Accepted: Accepted, Invalid, TargetNotFound or Conflicted. Enforced: Enforced, Pending, NotEnforced, Unsupported or Overridden.',
    {
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    },
  ),
  message: str('Human-readable details.', { maxLength: 32768 }),
});
export type Condition = Static<typeof Condition>;

export const PolicyStatus = obj('Observed state of the policy, written by the operator.', {
  observedGeneration: optional(int('The .metadata.generation the operator last acted on.', { minimum: 0, format: 'int64' })),
  conditions: optional(
    list(
      'Accepted: the operator validated the policy and resolved its targets. Enforced: True once every gateway that serves the targets has acknowledged a configuration that contains this generation and announces that it enforces this kind; otherwise False with reason Pending (waiting for the gateways), NotEnforced (a gateway refused the configuration), Unsupported (a gateway does not enforce this kind, or a section of it) or Overridden (policies that take precedence — more specific defaults, or overrides — replace all of it).',
      Condition,
      { maxItems: 8, listType: 'map', mapKeys: ['type'] },
    ),
  ),
});
export type PolicyStatus = Static<typeof PolicyStatus>;
