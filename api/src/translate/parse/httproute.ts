/**
 * HTTPRoute (gateway.networking.k8s.io/v1) at the edge, with the defaults of the Gateway API CRD
 * applied (a file in standalone mode has not been through the apiserver).
 */
import type { JsonObject } from '../../validate/schema-node.js';
import type { BackendRefModel, HTTPRouteModel, MatchModel, ParentRefModel, RuleModel, ValueMatchModel } from '../model.js';
import { durationMs } from '../duration.js';
import { ParseFailure, enumOf, list, meta, object, optInteger, optObject, optString, string } from './reader.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

function parseParentRef(raw: unknown, path: string, namespace: string): ParentRefModel {
  const p = object(raw, path);
  const sectionName = optString(p.sectionName, `${path}.sectionName`);
  const port = optInteger(p.port, `${path}.port`, 1, 65535);
  return {
    group: optString(p.group, `${path}.group`) ?? GATEWAY_API_GROUP,
    kind: optString(p.kind, `${path}.kind`) ?? 'Gateway',
    namespace: optString(p.namespace, `${path}.namespace`) || namespace,
    name: string(p.name, `${path}.name`),
    ...(sectionName ? { sectionName } : {}),
    ...(port !== undefined ? { port } : {}),
  };
}

function parseValueMatches(raw: unknown, path: string, lowerCase: boolean): ValueMatchModel[] {
  return list(raw, path).map((m, i) => {
    const o = object(m, `${path}[${i}]`);
    const name = string(o.name, `${path}[${i}].name`);
    return {
      type: enumOf(o.type, `${path}[${i}].type`, ['Exact', 'RegularExpression'] as const, 'Exact'),
      name: lowerCase ? name.toLowerCase() : name,
      value: optString(o.value, `${path}[${i}].value`) ?? '',
    };
  });
}

function parseMatch(raw: unknown, path: string): MatchModel {
  const m = object(raw, path);
  const p = optObject(m.path, `${path}.path`);
  const method = optString(m.method, `${path}.method`);
  return {
    path: {
      type: enumOf(p?.type, `${path}.path.type`, ['Exact', 'PathPrefix', 'RegularExpression'] as const, 'PathPrefix'),
      value: optString(p?.value, `${path}.path.value`) || '/',
    },
    ...(method ? { method: method.toUpperCase() } : {}),
    headers: parseValueMatches(m.headers, `${path}.headers`, true),
    queryParams: parseValueMatches(m.queryParams, `${path}.queryParams`, false),
  };
}

function parseBackendRef(raw: unknown, path: string, namespace: string): BackendRefModel {
  const b = object(raw, path);
  const port = optInteger(b.port, `${path}.port`, 1, 65535);
  return {
    group: optString(b.group, `${path}.group`) ?? '',
    kind: optString(b.kind, `${path}.kind`) ?? 'Service',
    namespace: optString(b.namespace, `${path}.namespace`) || namespace,
    name: string(b.name, `${path}.name`),
    ...(port !== undefined ? { port } : {}),
    weight: optInteger(b.weight, `${path}.weight`, 0, 1_000_000) ?? 1,
  };
}

/** A GEP-2257 duration in ms (Gateway API's pattern); undefined when absent. */
function optDuration(v: unknown, path: string): number | undefined {
  const text = optString(v, path);
  if (text === undefined) return undefined;
  const ms = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/.test(text) ? durationMs(text) : NaN;
  if (Number.isNaN(ms)) throw new ParseFailure(path, 'must be a duration such as 500ms, 30s or 1h30m');
  return ms;
}

/** A rule's `timeouts`; a zero duration turns that timeout off (Gateway API). */
function parseTimeouts(raw: unknown, path: string): RuleModel['timeouts'] {
  const t = optObject(raw, path);
  if (!t) return undefined;
  const requestMs = optDuration(t.request, `${path}.request`) || undefined;
  const backendRequestMs = optDuration(t.backendRequest, `${path}.backendRequest`) || undefined;
  if (requestMs !== undefined && backendRequestMs !== undefined && backendRequestMs > requestMs)
    throw new ParseFailure(`${path}.backendRequest`, 'must not be longer than request');
  if (requestMs === undefined && backendRequestMs === undefined) return undefined;
  return { ...(requestMs !== undefined ? { requestMs } : {}), ...(backendRequestMs !== undefined ? { backendRequestMs } : {}) };
}

function parseRule(raw: unknown, path: string, namespace: string): RuleModel {
  const r = object(raw, path);
  const name = optString(r.name, `${path}.name`);
  const matches = list(r.matches, `${path}.matches`).map((m, i) => parseMatch(m, `${path}.matches[${i}]`));
  const timeouts = parseTimeouts(r.timeouts, `${path}.timeouts`);
  return {
    ...(name ? { name } : {}),
    matches: matches.length > 0 ? matches : [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
    backendRefs: list(r.backendRefs, `${path}.backendRefs`).map((b, i) => parseBackendRef(b, `${path}.backendRefs[${i}]`, namespace)),
    filterCount: list(r.filters, `${path}.filters`).length,
    ...(timeouts ? { timeouts } : {}),
  };
}

export function parseHTTPRoute(obj: JsonObject, defaultNamespace: string): HTTPRouteModel {
  const m = meta(obj, defaultNamespace);
  const spec = object(obj.spec, 'spec');
  return {
    meta: m,
    parentRefs: list(spec.parentRefs, 'spec.parentRefs').map((p, i) => parseParentRef(p, `spec.parentRefs[${i}]`, m.namespace)),
    hostnames: list(spec.hostnames, 'spec.hostnames').map((h, i) => string(h, `spec.hostnames[${i}]`).toLowerCase()),
    rules: list(spec.rules, 'spec.rules').map((r, i) => parseRule(r, `spec.rules[${i}]`, m.namespace)),
  };
}
