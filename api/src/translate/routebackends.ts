/** The backends of each rule of an HTTPRoute, and the route's ResolvedRefs condition. */
import { compareStrings } from '../ir/order.js';
import { backendId, resolveServicePort } from './backendref.js';
import type { Catalog } from './catalog.js';
import type { HTTPRouteModel, ServicePortModel } from './model.js';
import type { RouteResolvedRefsReason } from './result.js';

export interface ResolvedBackend {
  readonly id: string;
  readonly weight: number;
  readonly namespace: string;
  readonly service: string;
  readonly port: ServicePortModel;
}

export interface RuleBackends {
  /** Sorted by id; weights of references to the same backend are added up. */
  readonly backends: readonly ResolvedBackend[];
  readonly unresolvedWeight: number;
}

export interface RouteBackends {
  readonly rules: readonly RuleBackends[];
  readonly resolvedRefs: { readonly status: boolean; readonly reason: RouteResolvedRefsReason; readonly message: string };
}

export function resolveRouteBackends(cat: Catalog, route: HTTPRouteModel): RouteBackends {
  const problems: { reason: RouteResolvedRefsReason; message: string }[] = [];
  const rules = route.rules.map((rule, r) => {
    const byId = new Map<string, ResolvedBackend>();
    let unresolvedWeight = 0;
    rule.backendRefs.forEach((ref, b) => {
      const at = `spec.rules[${r}].backendRefs[${b}]`;
      const fail = (reason: RouteResolvedRefsReason, message: string) => {
        problems.push({ reason, message: `${at}: ${message}` });
        unresolvedWeight += ref.weight;
      };
      if (ref.group !== '' || ref.kind !== 'Service')
        return fail('InvalidKind', `${ref.group ? `${ref.group}/` : ''}${ref.kind} is not a supported backend kind (core Service only)`);
      if (ref.namespace !== route.meta.namespace)
        return fail(
          'RefNotPermitted',
          `Service ${ref.namespace}/${ref.name} is in another namespace (ReferenceGrant is not supported yet)`,
        );
      if (ref.port === undefined) return fail('BackendNotFound', `port is required for a Service backend`);
      const res = resolveServicePort(cat, ref.namespace, ref.name, ref.port);
      if (!res.ok) return fail('BackendNotFound', res.message);
      const prev = byId.get(res.id);
      byId.set(res.id, {
        id: backendId(ref.namespace, ref.name, ref.port),
        weight: (prev?.weight ?? 0) + ref.weight,
        namespace: ref.namespace,
        service: ref.name,
        port: res.port,
      });
    });
    return { backends: [...byId.values()].sort((a, b) => compareStrings(a.id, b.id)), unresolvedWeight };
  });
  const first = problems[0];
  return {
    rules,
    resolvedRefs: first
      ? { status: false, reason: first.reason, message: problems.map((p) => p.message).join('; ') }
      : { status: true, reason: 'ResolvedRefs', message: 'all backend references resolved' },
  };
}
