/**
 * The endpoints of a Service port, from the EndpointSlices labelled with the Service's name. A
 * slice port is the Service port's when their names are equal (the unnamed port of a
 * single-port Service has the empty name); failing that, when its number is the numeric
 * targetPort. Endpoints are deduplicated by address and port (a pod may briefly appear in two
 * slices; the first slice by name wins) and sorted.
 */
import type { EndpointIR } from '../ir/types.js';
import { compareStrings } from '../ir/order.js';
import type { Catalog } from './catalog.js';
import { key } from './catalog.js';
import type { EndpointSliceModel, ServicePortModel } from './model.js';

function slicePort(slice: EndpointSliceModel, port: ServicePortModel): number | undefined {
  const byName = slice.ports.find((p) => (p.name ?? '') === (port.name ?? ''));
  if (byName) return byName.port ?? (typeof port.targetPort === 'number' ? port.targetPort : undefined);
  return typeof port.targetPort === 'number' ? slice.ports.find((p) => p.port === port.targetPort)?.port : undefined;
}

export function endpointsOf(cat: Catalog, namespace: string, service: string, port: ServicePortModel): EndpointIR[] {
  const seen = new Map<string, EndpointIR>();
  for (const slice of cat.slices.get(key(namespace, service)) ?? []) {
    const p = slicePort(slice, port);
    if (p === undefined) continue;
    for (const e of slice.endpoints)
      for (const address of e.addresses) {
        const k = `${address}\n${p}`;
        if (!seen.has(k)) seen.set(k, { address, port: p, ready: e.ready, serving: e.serving, terminating: e.terminating });
      }
  }
  return [...seen.values()].sort((a, b) => compareStrings(a.address, b.address) || a.port - b.port);
}
