/**
 * Which HTTPRoutes attach to which of our Gateways, through which listeners, for which
 * hostnames — and the RouteParentStatus of every parentRef that points at one of our Gateways.
 */
import { compareStrings } from '../ir/order.js';
import { compileRouteRegex } from '../ir/regex.js';
import type { Catalog } from './catalog.js';
import { key } from './catalog.js';
import { routeHostnames } from './hostnames.js';
import type { GatewayModel, HTTPRouteModel, ListenerModel, ParentRefModel } from './model.js';
import { GATEWAY_API_GROUP } from './parse/httproute.js';
import type { RouteAcceptedReason, RouteParentResult } from './result.js';
import type { RouteBackends } from './routebackends.js';

/** One HTTPRoute attached to one of our Gateways. */
export interface RouteAttachment {
  readonly gateway: GatewayModel;
  readonly gatewayId: string;
  readonly route: HTTPRouteModel;
  /** Listener names, sorted. */
  readonly listeners: readonly string[];
  /** `[]`: every host. Sorted. */
  readonly hostnames: readonly string[];
}

type Accepted = RouteParentResult['accepted'];

/** Why a route cannot be programmed at all (features we do not implement, patterns RE2 does not compile: ir/regex.ts). */
export function unsupported(route: HTTPRouteModel): string | undefined {
  const ids = new Map<string, number>();
  for (const [r, rule] of route.rules.entries()) {
    const id = rule.name ?? `rule-${r}`;
    const other = ids.get(id);
    if (other !== undefined) return `spec.rules[${r}].name: rule id ${id} is already used by spec.rules[${other}]`;
    ids.set(id, r);
  }
  for (const [r, rule] of route.rules.entries()) {
    if (rule.filterCount > 0) return `spec.rules[${r}].filters: filters are not supported yet`;
    for (const [m, match] of rule.matches.entries()) {
      const patterns = [
        ...(match.path.type === 'RegularExpression' ? [[`spec.rules[${r}].matches[${m}].path.value`, match.path.value]] : []),
        ...match.headers
          .filter((h) => h.type === 'RegularExpression')
          .map((h, i) => [`spec.rules[${r}].matches[${m}].headers[${i}].value`, h.value]),
        ...match.queryParams
          .filter((h) => h.type === 'RegularExpression')
          .map((h, i) => [`spec.rules[${r}].matches[${m}].queryParams[${i}].value`, h.value]),
      ];
      for (const [path, pattern] of patterns) {
        const compiled = compileRouteRegex(pattern!);
        if (!compiled.ok) return `${path}: invalid regular expression ${JSON.stringify(pattern)}: ${compiled.error}`;
      }
      if (match.path.type !== 'RegularExpression' && !match.path.value.startsWith('/'))
        return `spec.rules[${r}].matches[${m}].path.value: must start with /`;
    }
  }
  return undefined;
}

function allows(cat: Catalog, gateway: GatewayModel, listener: ListenerModel, route: HTTPRouteModel): string | undefined {
  if (listener.protocol !== 'HTTP') return `listener ${listener.name} has protocol ${listener.protocol}, which is not supported yet`;
  if (listener.kinds.length > 0 && !listener.kinds.some((k) => k.group === GATEWAY_API_GROUP && k.kind === 'HTTPRoute'))
    return `listener ${listener.name} does not allow HTTPRoutes`;
  const ns = route.meta.namespace;
  if (listener.from === 'Same' && ns !== gateway.meta.namespace)
    return `listener ${listener.name} allows routes from namespace ${gateway.meta.namespace} only`;
  if (listener.from === 'Selector') {
    const labels = cat.namespaces.get(ns)?.labels ?? {};
    if (!Object.entries(listener.selector ?? {}).every(([k, v]) => labels[k] === v))
      return `listener ${listener.name} does not select namespace ${ns}`;
  }
  return undefined;
}

function pointsAtOurs(cat: Catalog, ref: ParentRefModel): GatewayModel | undefined {
  return ref.group === GATEWAY_API_GROUP && ref.kind === 'Gateway' ? cat.ours.get(key(ref.namespace, ref.name)) : undefined;
}

function attachOne(
  cat: Catalog,
  gateway: GatewayModel,
  route: HTTPRouteModel,
  ref: ParentRefModel,
): { accepted: Accepted; listeners: string[]; hostnames: (readonly string[])[] } {
  const none = (reason: RouteAcceptedReason, message: string) => ({
    accepted: { status: false, reason, message },
    listeners: [],
    hostnames: [],
  });
  const candidates = gateway.listeners.filter(
    (l) => (ref.sectionName === undefined || l.name === ref.sectionName) && (ref.port === undefined || l.port === ref.port),
  );
  if (candidates.length === 0)
    return none(
      'NoMatchingParent',
      `Gateway ${ref.namespace}/${ref.name} has no listener${ref.sectionName ? ` named ${ref.sectionName}` : ''}${ref.port ? ` on port ${ref.port}` : ''}`,
    );
  const listeners: string[] = [];
  const hostnames: (readonly string[])[] = [];
  const refusals: string[] = [];
  let hostMismatch = false;
  for (const l of candidates) {
    const refusal = allows(cat, gateway, l, route);
    if (refusal) {
      refusals.push(refusal);
      continue;
    }
    const hosts = routeHostnames(route.hostnames, l.hostname);
    if (!hosts) {
      hostMismatch = true;
      refusals.push(`no hostname of the route matches listener ${l.name} (${l.hostname ?? ''})`);
      continue;
    }
    listeners.push(l.name);
    hostnames.push(hosts);
  }
  if (listeners.length === 0) return none(hostMismatch ? 'NoMatchingListenerHostname' : 'NotAllowedByListeners', refusals.join('; '));
  return {
    accepted: {
      status: true,
      reason: 'Accepted',
      message: `attached to listener${listeners.length > 1 ? 's' : ''} ${listeners.join(', ')}`,
    },
    listeners,
    hostnames,
  };
}

export function attachRoutes(
  cat: Catalog,
  backends: ReadonlyMap<string, RouteBackends>,
): { attachments: RouteAttachment[]; results: RouteParentResult[] } {
  const attachments = new Map<
    string,
    { gateway: GatewayModel; route: HTTPRouteModel; listeners: Set<string>; hostnames: (readonly string[])[] }
  >();
  const results: RouteParentResult[] = [];
  const routes = [...cat.routes.values()].sort((a, b) =>
    compareStrings(key(a.meta.namespace, a.meta.name), key(b.meta.namespace, b.meta.name)),
  );
  for (const route of routes) {
    const rk = key(route.meta.namespace, route.meta.name);
    const resolvedRefs = backends.get(rk)!.resolvedRefs;
    const notSupported = unsupported(route);
    for (const ref of route.parentRefs) {
      const gateway = pointsAtOurs(cat, ref);
      if (!gateway) continue;
      const outcome: { accepted: Accepted; listeners: string[]; hostnames: (readonly string[])[] } = notSupported
        ? { accepted: { status: false, reason: 'UnsupportedValue', message: notSupported }, listeners: [], hostnames: [] }
        : attachOne(cat, gateway, route, ref);
      results.push({
        route: { namespace: route.meta.namespace, name: route.meta.name, generation: route.meta.generation },
        parentRef: ref,
        accepted: outcome.accepted,
        resolvedRefs,
      });
      if (!outcome.accepted.status) continue;
      const gk = key(gateway.meta.namespace, gateway.meta.name);
      const ak = `${gk}\n${rk}`;
      const entry = attachments.get(ak) ?? { gateway, route, listeners: new Set<string>(), hostnames: [] };
      outcome.listeners.forEach((l) => entry.listeners.add(l));
      entry.hostnames.push(...outcome.hostnames);
      attachments.set(ak, entry);
    }
  }
  return {
    attachments: [...attachments.values()].map((a) => ({
      gateway: a.gateway,
      gatewayId: key(a.gateway.meta.namespace, a.gateway.meta.name),
      route: a.route,
      listeners: [...a.listeners].sort(compareStrings),
      // Any listener that accepts any host makes the route serve any host.
      hostnames: a.hostnames.some((h) => h.length === 0) ? [] : [...new Set(a.hostnames.flat())].sort(compareStrings),
    })),
    results,
  };
}
