/** Resolving a reference to a Service port, the way routes and fallback steps name backends. */
import type { Catalog } from './catalog.js';
import { key } from './catalog.js';
import type { ServiceModel, ServicePortModel } from './model.js';

export type BackendResolution =
  | { readonly ok: true; readonly id: string; readonly service: ServiceModel; readonly port: ServicePortModel }
  | { readonly ok: false; readonly message: string };

export function backendId(namespace: string, name: string, port: number): string {
  return `${namespace}/${name}:${port}`;
}

/** A Service port by number, or the Service's only port when `port` is absent. */
export function resolveServicePort(cat: Catalog, namespace: string, name: string, port: number | undefined): BackendResolution {
  const service = cat.services.get(key(namespace, name));
  if (!service) return { ok: false, message: `Service ${namespace}/${name} not found` };
  if (port === undefined) {
    const only = service.ports.length === 1 ? service.ports[0] : undefined;
    if (!only) return { ok: false, message: `Service ${namespace}/${name} has ${service.ports.length} ports: set port` };
    return { ok: true, id: backendId(namespace, name, only.port), service, port: only };
  }
  const found = service.ports.find((p) => p.port === port);
  if (!found) return { ok: false, message: `Service ${namespace}/${name} has no port ${port}` };
  return { ok: true, id: backendId(namespace, name, port), service, port: found };
}
