/** Look-ups over the parsed store, by namespace and name. */
import { pushTo } from '../group.js';
import { compareStrings } from '../ir/order.js';
import type { EndpointSliceModel, GatewayModel, HTTPRouteModel, NamespaceModel, SecretModel, ServiceModel, Store } from './model.js';

export const key = (namespace: string, name: string): string => `${namespace}/${name}`;

export interface Catalog {
  readonly store: Store;
  readonly gateways: ReadonlyMap<string, GatewayModel>;
  /** Gateways whose GatewayClass has our controllerName. */
  readonly ours: ReadonlyMap<string, GatewayModel>;
  readonly routes: ReadonlyMap<string, HTTPRouteModel>;
  readonly services: ReadonlyMap<string, ServiceModel>;
  /** EndpointSlices by `<namespace>/<service name>`. */
  readonly slices: ReadonlyMap<string, readonly EndpointSliceModel[]>;
  readonly namespaces: ReadonlyMap<string, NamespaceModel>;
  /** Secrets labelled for identity, by `<namespace>/<name>`. */
  readonly secrets: ReadonlyMap<string, SecretModel>;
}

function byKey<T extends { readonly meta: { readonly namespace: string; readonly name: string } }>(items: readonly T[]): Map<string, T> {
  // On a duplicate (possible only with hand-written files), the first one counts.
  const map = new Map<string, T>();
  for (const item of items) if (!map.has(key(item.meta.namespace, item.meta.name))) map.set(key(item.meta.namespace, item.meta.name), item);
  return map;
}

export function catalog(store: Store, controllerName: string): Catalog {
  const classes = new Set(store.gatewayClasses.filter((c) => c.controllerName === controllerName).map((c) => c.name));
  const gateways = byKey(store.gateways);
  const slices = new Map<string, EndpointSliceModel[]>();
  // By name, so that an endpoint listed in two slices takes the first slice's conditions whatever the input order.
  const sorted = [...store.endpointSlices].sort((a, b) => compareStrings(a.meta.name, b.meta.name));
  for (const s of sorted) {
    const k = key(s.meta.namespace, s.serviceName);
    pushTo(slices, k, s);
  }
  return {
    store,
    gateways,
    ours: new Map([...gateways].filter(([, g]) => classes.has(g.className))),
    routes: byKey(store.routes),
    services: byKey(store.services),
    slices,
    namespaces: new Map(store.namespaces.map((n) => [n.name, n])),
    secrets: byKey(store.secrets),
  };
}
