/**
 * The IR: the only contract between the operator (or the standalone gateway's file loader) and
 * the gateway's request path. Plain typed data, no Kubernetes types, no wire types. Durations are
 * milliseconds, defaults are applied, lists are sorted so that equal configs serialize equally.
 *
 * One config holds every Gateway of our GatewayClass and every backend their routes use. It is
 * delivered as one `GatewayIR` resource per Gateway and one `BackendIR` resource per backend.
 */
import type { PolicyKind } from '../schema/kinds.js';

/** Schema version of the IR; bumped on incompatible changes. */
export const IR_VERSION = 1;

/** A policy whose (compiled) content is part of a config, at the generation that was compiled. */
export interface PolicyRef {
  readonly kind: PolicyKind;
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
}

export interface IR {
  /** Sorted by id. */
  readonly gateways: readonly GatewayIR[];
  /** Sorted by id. */
  readonly backends: readonly BackendIR[];
}

export interface GatewayIR {
  /** `<namespace>/<name>` of the Gateway; gateways of this group subscribe to it by this name. */
  readonly id: string;
  readonly listeners: readonly ListenerIR[];
  /** In match precedence order (Gateway API rules): the first route whose match fits wins. */
  readonly routes: readonly RouteIR[];
  /** Every policy compiled into this gateway's routes, sorted; for the Enforced condition. */
  readonly policies: readonly PolicyRef[];
}

export interface ListenerIR {
  readonly name: string;
  readonly port: number;
  readonly protocol: 'HTTP';
  /** Empty: any host. */
  readonly hostnames: readonly string[];
}

export interface BackendIR {
  /** `<namespace>/<service>:<port>`. */
  readonly id: string;
  readonly service: { readonly namespace: string; readonly name: string; readonly port: number };
  readonly endpoints: readonly EndpointIR[];
  /** Every policy compiled into this backend, sorted; for the Enforced condition. */
  readonly policies: readonly PolicyRef[];
}

export interface EndpointIR {
  readonly address: string;
  readonly port: number;
  /** EndpointSlice conditions; the gateway sends traffic only to ready endpoints. */
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

/** A route: one rule of an HTTPRoute, with its compiled policies. (Completed by the translator issue work.) */
export interface RouteIR {
  /** `<namespace>/<route>/<rule name or index>`. */
  readonly id: string;
}
