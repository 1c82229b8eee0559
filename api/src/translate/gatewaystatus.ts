/**
 * The status the translator can give our GatewayClasses and Gateways: each class is Accepted; each
 * Gateway is Accepted when its listeners are, and every listener says which route kinds it takes,
 * how many HTTPRoutes are attached through it, and whether it shares a port and hostname with
 * another. Whether a Gateway is Programmed depends on its gateways' ACKs: the operator adds that.
 */
import { compareStrings } from '../ir/order.js';
import type { RouteAttachment } from './attach.js';
import type { Catalog } from './catalog.js';
import type { GatewayModel, ListenerModel } from './model.js';
import { GATEWAY_API_GROUP } from './parse/httproute.js';
import type { GatewayClassResult, GatewayResult, ListenerResult } from './result.js';

const HTTP_ROUTE = { group: GATEWAY_API_GROUP, kind: 'HTTPRoute' } as const;

function listenerResult(gateway: GatewayModel, l: ListenerModel, attachments: readonly RouteAttachment[]): ListenerResult {
  const http = l.protocol === 'HTTP';
  const kindsOk = l.kinds.length === 0 || l.kinds.some((k) => k.group === HTTP_ROUTE.group && k.kind === HTTP_ROUTE.kind);
  const foreign = l.kinds.filter((k) => k.group !== HTTP_ROUTE.group || k.kind !== HTTP_ROUTE.kind);
  const supportedKinds = http && kindsOk ? [HTTP_ROUTE] : [];
  const attachedRoutes = attachments.filter((a) => a.listeners.includes(l.name)).length;
  const twins = gateway.listeners.filter(
    (o) => o !== l && o.port === l.port && o.protocol === l.protocol && (o.hostname ?? '') === (l.hostname ?? ''),
  );
  return {
    name: l.name,
    supportedKinds,
    attachedRoutes,
    accepted: http
      ? { status: true, reason: 'Accepted', message: 'Listener accepted.' }
      : {
          status: false,
          reason: 'UnsupportedProtocol',
          message: `Protocol ${l.protocol} is not supported yet; only HTTP listeners are programmed.`,
        },
    resolvedRefs:
      foreign.length === 0
        ? { status: true, reason: 'ResolvedRefs', message: 'Route kinds resolved.' }
        : {
            status: false,
            reason: 'InvalidRouteKinds',
            message: `Route kinds not supported: ${foreign.map((k) => `${k.group}/${k.kind}`).join(', ')}; only ${HTTP_ROUTE.group}/HTTPRoute is.`,
          },
    conflicted:
      twins.length === 0
        ? { status: false, reason: 'NoConflicts', message: 'No conflicts.' }
        : {
            status: true,
            reason: 'HostnameConflict',
            message: `Listener${twins.length > 1 ? 's' : ''} ${twins.map((t) => t.name).join(', ')} use${twins.length > 1 ? '' : 's'} the same port ${l.port} and hostname ${l.hostname ?? '(any)'}; their routes are served together.`,
          },
  };
}

export function gatewayStatus(
  cat: Catalog,
  controllerName: string,
  attachments: readonly RouteAttachment[],
): {
  gateways: GatewayResult[];
  gatewayClasses: GatewayClassResult[];
} {
  const gateways = [...cat.ours.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([id, g]): GatewayResult => {
      const own = attachments.filter((a) => a.gatewayId === id);
      const listeners = g.listeners.map((l) => listenerResult(g, l, own));
      const valid = listeners.filter((l) => l.accepted.status && l.resolvedRefs.status).length;
      const invalid = listeners.filter((l) => !(l.accepted.status && l.resolvedRefs.status)).map((l) => l.name);
      const accepted: GatewayResult['accepted'] =
        invalid.length === 0 && valid > 0
          ? { status: true, reason: 'Accepted', message: `Accepted by ${controllerName}.` }
          : valid > 0
            ? { status: true, reason: 'ListenersNotValid', message: `Accepted; listeners not valid: ${invalid.join(', ')}.` }
            : {
                status: false,
                reason: 'ListenersNotValid',
                message: listeners.length === 0 ? 'The Gateway has no listeners.' : 'No listener is valid.',
              };
      return { namespace: g.meta.namespace, name: g.meta.name, generation: g.meta.generation, accepted, listeners };
    });
  const gatewayClasses = cat.store.gatewayClasses
    .filter((c) => c.controllerName === controllerName)
    .sort((a, b) => compareStrings(a.name, b.name))
    .filter((c, i, all) => i === 0 || all[i - 1]!.name !== c.name)
    .map((c): GatewayClassResult => ({
      name: c.name,
      generation: c.generation,
      accepted: { status: true, reason: 'Accepted', message: `Handled by ${controllerName}.` },
    }));
  return { gateways, gatewayClasses };
}
