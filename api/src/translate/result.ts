/** What the translator returns besides the IR: per-policy and per-route status, and parse problems. */
import type { IR, PolicyRef } from '../ir/types.js';
import type { Finding } from './model.js';

export type PolicyReason = 'Accepted' | 'Invalid' | 'TargetNotFound' | 'Conflicted';

export interface PolicyResult {
  /** The policy; `uid` when the object had one. */
  readonly ref: PolicyRef & { readonly uid?: string };
  /** The Accepted condition. */
  readonly accepted: { readonly status: boolean; readonly reason: PolicyReason; readonly message: string };
  /**
   * Every problem behind the condition, with the field it concerns (`spec.targetRefs[1]`,
   * `spec.fallback.chain[1].backendRef`): errors when not accepted, notes (targets missing or
   * lost to a conflict) when accepted.
   */
  readonly findings: readonly Finding[];
  /**
   * The features a gateway must announce to enforce this policy (api/src/features.ts): the kind's,
   * and one per optional section the spec sets. Filled in by translate().
   */
  readonly features?: readonly string[];
  /**
   * Accepted policies only: the policies that take precedence (`Kind namespace/name`, and
   * `(overrides, Atomic|Merge)` for an override) and replace all of
   * this one on every route or backend it applies to. Absent when some of it takes effect.
   */
  readonly overriddenBy?: readonly string[];
  /**
   * ClientIdentityPolicy only, when accepted: whether every Secret it names exists and holds
   * usable keys (the ResolvedRefs condition); reasons ResolvedRefs, SecretNotFound, InvalidSecret.
   */
  readonly resolvedRefs?: { readonly status: boolean; readonly reason: string; readonly message: string };
  /** Accepted policies only: the targets it holds (after conflicts), as `Kind namespace/name[/section]`. */
  readonly targets?: readonly { readonly kind: string; readonly namespace: string; readonly name: string; readonly sectionName?: string }[];
}

export type RouteAcceptedReason =
  'Accepted' | 'NotAllowedByListeners' | 'NoMatchingListenerHostname' | 'NoMatchingParent' | 'UnsupportedValue';
export type RouteResolvedRefsReason = 'ResolvedRefs' | 'BackendNotFound' | 'InvalidKind' | 'RefNotPermitted';

export interface ParentRefResult {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

/** The status of one parentRef of an HTTPRoute that points at one of our Gateways (RouteParentStatus). */
export interface RouteParentResult {
  readonly route: { readonly namespace: string; readonly name: string; readonly generation: number };
  /** The parentRef, with its defaults (group, kind, namespace) filled in. */
  readonly parentRef: ParentRefResult;
  readonly accepted: { readonly status: boolean; readonly reason: RouteAcceptedReason; readonly message: string };
  readonly resolvedRefs: { readonly status: boolean; readonly reason: RouteResolvedRefsReason; readonly message: string };
}

/** An input object that could not be parsed (or has a kind/version we do not know in our group). */
export interface ParseProblem {
  /** Position of the object in TranslatorInput.objects. */
  readonly index: number;
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** Field path, e.g. `spec.rules[0].matches[1].path.type`. */
  readonly path: string;
  readonly message: string;
}

/** The status of one listener of one of our Gateways (ListenerStatus, without Programmed: that comes from the gateways). */
export interface ListenerResult {
  readonly name: string;
  /** The route kinds the listener accepts: HTTPRoute, for an HTTP listener that allows it. */
  readonly supportedKinds: readonly { readonly group: string; readonly kind: string }[];
  /** HTTPRoutes attached through this listener. */
  readonly attachedRoutes: number;
  readonly accepted: { readonly status: boolean; readonly reason: 'Accepted' | 'UnsupportedProtocol'; readonly message: string };
  readonly resolvedRefs: { readonly status: boolean; readonly reason: 'ResolvedRefs' | 'InvalidRouteKinds'; readonly message: string };
  readonly conflicted: { readonly status: boolean; readonly reason: 'NoConflicts' | 'HostnameConflict'; readonly message: string };
}

/** The status of one of our Gateways as the translator sees it (Programmed is the operator's: it needs the gateways' ACKs). */
export interface GatewayResult {
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  readonly accepted: { readonly status: boolean; readonly reason: 'Accepted' | 'ListenersNotValid'; readonly message: string };
  /** In spec order. */
  readonly listeners: readonly ListenerResult[];
}

/** A GatewayClass with our controllerName. */
export interface GatewayClassResult {
  readonly name: string;
  readonly generation: number;
  readonly accepted: { readonly status: boolean; readonly reason: 'Accepted'; readonly message: string };
}

export interface TranslateResult {
  readonly ir: IR;
  /** Sorted by kind, namespace, name. */
  readonly policies: readonly PolicyResult[];
  /** Sorted by route namespace/name, then parentRef order. */
  readonly routes: readonly RouteParentResult[];
  /** In input order. */
  readonly problems: readonly ParseProblem[];
  /** Our Gateways, sorted by namespace/name. */
  readonly gateways: readonly GatewayResult[];
  /** Our GatewayClasses, sorted by name. */
  readonly gatewayClasses: readonly GatewayClassResult[];
}
