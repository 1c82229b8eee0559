/**
 * The narrow typed model the translator works on. Every input object is parsed into one of these
 * at the edge (parse/); nothing after that reads raw JSON.
 */
import type { Strategy } from '../schema/attachment.js';
import type { Policy, PolicyKind } from '../schema/kinds.js';

/** The object metadata the translator uses. */
export interface Meta {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  /** metadata.generation; 0 when absent (a file in standalone mode). */
  readonly generation: number;
  /** RFC 3339; absent in files: such objects count as the newest. */
  readonly creationTimestamp?: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface GatewayClassModel {
  readonly name: string;
  readonly generation: number;
  readonly controllerName: string;
}

export interface ListenerModel {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  readonly hostname?: string;
  /** allowedRoutes.namespaces.from (default Same). */
  readonly from: 'Same' | 'All' | 'Selector';
  /** allowedRoutes.namespaces.selector.matchLabels, for from Selector. */
  readonly selector?: Readonly<Record<string, string>>;
  /** allowedRoutes.kinds; empty: the protocol's default (HTTPRoute for HTTP). */
  readonly kinds: readonly { readonly group: string; readonly kind: string }[];
}

export interface GatewayModel {
  readonly meta: Meta;
  readonly className: string;
  readonly listeners: readonly ListenerModel[];
}

export interface ParentRefModel {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

export interface ValueMatchModel {
  readonly type: 'Exact' | 'RegularExpression';
  readonly name: string;
  readonly value: string;
}

export interface MatchModel {
  readonly path: { readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression'; readonly value: string };
  readonly method?: string;
  readonly headers: readonly ValueMatchModel[];
  readonly queryParams: readonly ValueMatchModel[];
}

export interface BackendRefModel {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly port?: number;
  readonly weight: number;
}

export interface RuleModel {
  readonly name?: string;
  readonly matches: readonly MatchModel[];
  readonly backendRefs: readonly BackendRefModel[];
  /** Filters are not implemented yet: a rule with filters makes the route UnsupportedValue. */
  readonly filterCount: number;
  /** `timeouts` in milliseconds; 0 (`0s`) or absent: no timeout. */
  readonly timeouts?: { readonly requestMs?: number; readonly backendRequestMs?: number };
}

export interface HTTPRouteModel {
  readonly meta: Meta;
  readonly parentRefs: readonly ParentRefModel[];
  readonly hostnames: readonly string[];
  readonly rules: readonly RuleModel[];
}

export interface ServicePortModel {
  readonly name?: string;
  readonly port: number;
  readonly targetPort?: number | string;
}

export interface ServiceModel {
  readonly meta: Meta;
  readonly ports: readonly ServicePortModel[];
}

export interface EndpointModel {
  readonly addresses: readonly string[];
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

export interface EndpointSliceModel {
  readonly meta: Meta;
  /** The `kubernetes.io/service-name` label. */
  readonly serviceName: string;
  readonly ports: readonly { readonly name?: string; readonly port?: number }[];
  readonly endpoints: readonly EndpointModel[];
}

export interface NamespaceModel {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Where a policy's settings are (GEP-713): defaults or overrides, and how they combine. */
export interface Attachment {
  readonly role: 'defaults' | 'overrides';
  readonly strategy: Strategy;
  /** Where the settings are written: `spec` (the top-level form), `spec.defaults` or `spec.overrides`. */
  readonly path: 'spec' | 'spec.defaults' | 'spec.overrides';
}

/** A Secret labelled for identity: its data decoded; only the translator ever sees it. */
export interface SecretModel {
  readonly meta: Meta;
  readonly annotations: Readonly<Record<string, string>>;
  readonly data: ReadonlyMap<string, Buffer>;
}

/**
 * A policy that passed schema and CEL validation, with every default applied. `policy.spec` is
 * targetRefs and the settings, whichever form the manifest used (parse/sections.ts).
 */
export interface PolicyModel {
  readonly kind: PolicyKind;
  readonly meta: Meta;
  readonly policy: Policy;
  readonly attachment: Attachment;
}

/** An object of our API group that failed validation: reported Invalid. */
export interface InvalidPolicyModel {
  readonly kind: PolicyKind;
  readonly meta: Meta;
  readonly findings: readonly Finding[];
}

/** A problem with one field of a policy, in the apiserver's path syntax. */
export interface Finding {
  readonly path: string;
  readonly message: string;
}

/** Everything parsed from the input, by kind. */
export interface Store {
  readonly gatewayClasses: readonly GatewayClassModel[];
  readonly gateways: readonly GatewayModel[];
  readonly routes: readonly HTTPRouteModel[];
  readonly services: readonly ServiceModel[];
  readonly endpointSlices: readonly EndpointSliceModel[];
  readonly namespaces: readonly NamespaceModel[];
  /** Only Secrets labelled for identity. */
  readonly secrets: readonly SecretModel[];
  readonly policies: readonly PolicyModel[];
  readonly invalidPolicies: readonly InvalidPolicyModel[];
}
