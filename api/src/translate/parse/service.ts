/** Service (v1) and EndpointSlice (discovery.k8s.io/v1) at the edge. */
import type { JsonObject } from '../../validate/schema-node.js';
import type { EndpointSliceModel, ServiceModel } from '../model.js';
import { integer, list, meta, object, optBoolean, optInteger, optObject, optString, string } from './reader.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function parseService(obj: JsonObject, defaultNamespace: string): ServiceModel {
  const spec = object(obj.spec, 'spec');
  return {
    meta: meta(obj, defaultNamespace),
    ports: list(spec.ports, 'spec.ports').map((p, i) => {
      const o = object(p, `spec.ports[${i}]`);
      const name = optString(o.name, `spec.ports[${i}].name`);
      const target = o.targetPort;
      const targetPort = typeof target === 'string' ? target : optInteger(target, `spec.ports[${i}].targetPort`, 1, 65535);
      return {
        ...(name ? { name } : {}),
        port: integer(o.port, `spec.ports[${i}].port`, 1, 65535),
        ...(targetPort !== undefined ? { targetPort } : {}),
      };
    }),
  };
}

/**
 * An EndpointSlice; conditions as Kubernetes specifies them: `ready` absent means ready,
 * `serving` absent follows ready, `terminating` absent means not terminating.
 */
export function parseEndpointSlice(obj: JsonObject, defaultNamespace: string): EndpointSliceModel {
  const m = meta(obj, defaultNamespace);
  const serviceName = m.labels[SERVICE_NAME_LABEL];
  return {
    meta: m,
    serviceName: string(serviceName, `metadata.labels[${SERVICE_NAME_LABEL}]`),
    ports: list(obj.ports, 'ports').map((p, i) => {
      const o = object(p, `ports[${i}]`);
      const name = optString(o.name, `ports[${i}].name`);
      const port = optInteger(o.port, `ports[${i}].port`, 1, 65535);
      return { ...(name ? { name } : {}), ...(port !== undefined ? { port } : {}) };
    }),
    endpoints: list(obj.endpoints, 'endpoints').map((e, i) => {
      const o = object(e, `endpoints[${i}]`);
      const c = optObject(o.conditions, `endpoints[${i}].conditions`);
      const ready = optBoolean(c?.ready, `endpoints[${i}].conditions.ready`) ?? true;
      return {
        addresses: list(o.addresses, `endpoints[${i}].addresses`).map((a, j) => string(a, `endpoints[${i}].addresses[${j}]`)),
        ready,
        serving: optBoolean(c?.serving, `endpoints[${i}].conditions.serving`) ?? ready,
        terminating: optBoolean(c?.terminating, `endpoints[${i}].conditions.terminating`) ?? false,
      };
    }),
  };
}
