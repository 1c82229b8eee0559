/** GatewayClass, Gateway and Namespace (gateway.networking.k8s.io/v1, v1) at the edge. */
import type { JsonObject } from '../../validate/schema-node.js';
import type { GatewayClassModel, GatewayModel, ListenerModel, NamespaceModel } from '../model.js';
import { enumOf, integer, list, meta, object, optObject, optString, string, stringMap } from './reader.js';

export function parseGatewayClass(obj: JsonObject): GatewayClassModel {
  const spec = object(obj.spec, 'spec');
  const m = meta(obj, '', false);
  return { name: m.name, generation: m.generation, controllerName: string(spec.controllerName, 'spec.controllerName') };
}

function parseListener(raw: unknown, path: string): ListenerModel {
  const l = object(raw, path);
  const allowed = optObject(l.allowedRoutes, `${path}.allowedRoutes`);
  const namespaces = optObject(allowed?.namespaces, `${path}.allowedRoutes.namespaces`);
  const from = enumOf(namespaces?.from, `${path}.allowedRoutes.namespaces.from`, ['Same', 'All', 'Selector'] as const, 'Same');
  const selector = optObject(namespaces?.selector, `${path}.allowedRoutes.namespaces.selector`);
  const hostname = optString(l.hostname, `${path}.hostname`);
  return {
    name: string(l.name, `${path}.name`),
    port: integer(l.port, `${path}.port`, 1, 65535),
    protocol: string(l.protocol, `${path}.protocol`),
    ...(hostname ? { hostname: hostname.toLowerCase() } : {}),
    from,
    ...(from === 'Selector' ? { selector: stringMap(selector?.matchLabels, `${path}.allowedRoutes.namespaces.selector.matchLabels`) } : {}),
    kinds: list(allowed?.kinds, `${path}.allowedRoutes.kinds`).map((k, i) => {
      const kind = object(k, `${path}.allowedRoutes.kinds[${i}]`);
      return {
        group: optString(kind.group, `${path}.allowedRoutes.kinds[${i}].group`) ?? 'gateway.networking.k8s.io',
        kind: string(kind.kind, `${path}.allowedRoutes.kinds[${i}].kind`),
      };
    }),
  };
}

export function parseGateway(obj: JsonObject, defaultNamespace: string): GatewayModel {
  const spec = object(obj.spec, 'spec');
  return {
    meta: meta(obj, defaultNamespace),
    className: string(spec.gatewayClassName, 'spec.gatewayClassName'),
    listeners: list(spec.listeners, 'spec.listeners').map((l, i) => parseListener(l, `spec.listeners[${i}]`)),
  };
}

export function parseNamespace(obj: JsonObject): NamespaceModel {
  const m = meta(obj, '', false);
  return { name: m.name, labels: m.labels };
}
