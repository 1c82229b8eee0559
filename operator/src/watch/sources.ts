/** The collections the operator watches: its inputs. */
import { GROUP, IDENTITY_SECRET_LABEL, KINDS, VERSION } from '@jarvis/api';

export interface Source {
  /** Informer name and the translator input it feeds. */
  readonly name: string;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespaced: boolean;
  readonly kind: string;
  /** Only objects with this label selector are listed and watched. */
  readonly labelSelector?: string;
  /** May be forbidden by RBAC: then it is empty, and the operator goes on without it. */
  readonly optional?: boolean;
}

/**
 * Secrets a ClientIdentityPolicy may read: only those labelled for identity are ever listed or
 * watched (the label selector is part of every request), so no other Secret's data reaches the
 * operator. RBAC cannot narrow list/watch by label; the chart grants list and watch on Secrets,
 * and an operator without that grant runs on without identity Secrets (SecretNotFound).
 */
export const SECRETS: Source = {
  name: 'secrets',
  group: '',
  version: 'v1',
  plural: 'secrets',
  namespaced: true,
  kind: 'Secret',
  labelSelector: IDENTITY_SECRET_LABEL,
  optional: true,
};

export const GATEWAYS: Source = {
  name: 'gateways',
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  plural: 'gateways',
  namespaced: true,
  kind: 'Gateway',
};

export const GATEWAY_CLASSES: Source = {
  name: 'gatewayclasses',
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  plural: 'gatewayclasses',
  namespaced: false,
  kind: 'GatewayClass',
};

export const HTTPROUTES: Source = {
  name: 'httproutes',
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  plural: 'httproutes',
  namespaced: true,
  kind: 'HTTPRoute',
};

export const SOURCES: readonly Source[] = [
  GATEWAY_CLASSES,
  GATEWAYS,
  HTTPROUTES,
  { name: 'services', group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' },
  { name: 'endpointslices', group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' },
  SECRETS,
  ...KINDS.map((k) => ({ name: k.plural, group: GROUP, version: VERSION, plural: k.plural, namespaced: true, kind: k.kind })),
];

/** The list/watch path of a source, optionally in one namespace. */
export function collectionPath(source: Source, namespace?: string): string {
  const base = source.group === '' ? `/api/${source.version}` : `/apis/${source.group}/${source.version}`;
  return source.namespaced && namespace
    ? `${base}/namespaces/${encodeURIComponent(namespace)}/${source.plural}`
    : `${base}/${source.plural}`;
}

export function objectPath(source: Source, namespace: string | undefined, name: string): string {
  return `${collectionPath(source, namespace)}/${encodeURIComponent(name)}`;
}

export function apiVersionOf(source: Source): string {
  return source.group === '' ? source.version : `${source.group}/${source.version}`;
}
