/**
 * The translator: Kubernetes objects (GatewayClass, Gateway, HTTPRoute, Service, EndpointSlice,
 * the five policy kinds) → IR, plus the status of every policy and route parent. Pure and
 * deterministic: the same objects, in any order, give the same result.
 *
 *   parse (parse/) → attach routes (attach.ts) → admit policies (policies.ts: Invalid,
 *   TargetNotFound, Conflicted) → routes with merged policies (routes.ts, precedence.ts,
 *   merge.ts) → backends with endpoints and breakers (backends.ts) → gateways (gateways.ts).
 */
import { pushTo } from '../group.js';
import { compareStrings } from '../ir/order.js';
import type { IR } from '../ir/types.js';
import type { PolicyKind } from '../schema/kinds.js';
import { attachRoutes } from './attach.js';
import { buildBackends, type BackendUse } from './backends.js';
import { catalog, key } from './catalog.js';
import { compiler } from './compiler.js';
import { gatewayStatus } from './gatewaystatus.js';
import type { CompiledIdentity } from './compile/identity.js';
import { buildGateway, type GatewayRoutes } from './gateways.js';
import { parseInput } from './parse/store.js';
import { requiredFeatures } from '../features.js';
import { OverrideRecorder } from './overrides.js';
import { ShedNotes } from './shed-notes.js';
import { admitPolicies, type Attached } from './policies.js';
import type { PolicyResult, TranslateResult } from './result.js';
import { resolveRouteBackends, type RouteBackends } from './routebackends.js';
import { buildRoutes } from './routes.js';

export interface TranslatorInput {
  /** Plain JSON objects as the apiserver returns them (or as YAML files hold them); other kinds are ignored. */
  readonly objects: readonly unknown[];
  /** Namespace of objects without one (files); `default`. */
  readonly defaultNamespace?: string;
}

export interface TranslateOptions {
  /** Only Gateways of a GatewayClass with this controllerName are translated (see CONTROLLER_NAME). */
  readonly controllerName: string;
}

/** The ResolvedRefs condition of a ClientIdentityPolicy. */
function resolvedRefs(c: CompiledIdentity): NonNullable<PolicyResult['resolvedRefs']> {
  const first = c.problems[0];
  if (!first) return { status: true, reason: 'ResolvedRefs', message: c.summary ? `Resolved: ${c.summary}.` : 'No Secrets referenced.' };
  const reason = c.problems.some((p) => p.reason === 'SecretNotFound') ? 'SecretNotFound' : 'InvalidSecret';
  const message = c.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  return { status: false, reason, message: `${message}${c.summary ? ` (in use: ${c.summary})` : ''}`.slice(0, 4096) };
}

export function translate(input: TranslatorInput, options: TranslateOptions): TranslateResult {
  const { store, problems } = parseInput(input.objects, input.defaultNamespace ?? 'default');
  const cat = catalog(store, options.controllerName);
  const compile = compiler(cat);

  const routeBackends = new Map<string, RouteBackends>();
  for (const [k, route] of cat.routes) routeBackends.set(k, resolveRouteBackends(cat, route));
  const { attachments, results: routes } = attachRoutes(cat, routeBackends);

  const { attached, results: policies } = admitPolicies(cat);
  const byKind = new Map<PolicyKind, Attached[]>();
  for (const a of attached) pushTo(byKind, a.model.kind, a);

  const overrides = new OverrideRecorder();
  const shed = new ShedNotes();
  const perGateway = new Map<string, GatewayRoutes[]>();
  const uses: BackendUse[] = [];
  for (const attachment of attachments) {
    const rk = key(attachment.route.meta.namespace, attachment.route.meta.name);
    const rules = routeBackends.get(rk)!.rules;
    const built = buildRoutes(attachment, rules, byKind, compile, overrides, shed);
    pushTo(perGateway, attachment.gatewayId, { attachment, routes: built });
    built.forEach((r, i) => {
      for (const b of rules[i]!.backends)
        uses.push({ id: b.id, namespace: b.namespace, service: b.service, port: b.port, context: r.context });
      if (r.degradation) for (const f of compile.fallbackBackends(r.degradation)) uses.push({ ...f, context: r.context });
    });
  }

  // A Gateway's ClientIdentityPolicy: conflicts are settled, so each Gateway has at most one.
  const identityOf = new Map<string, Attached>();
  for (const a of byKind.get('ClientIdentityPolicy') ?? []) for (const t of a.targets) identityOf.set(key(t.namespace, t.name), a);
  const ir: IR = {
    gateways: [...cat.ours.entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([id, gateway]) => {
        const identity = identityOf.get(id);
        return buildGateway(gateway, perGateway.get(id) ?? [], identity ? compile.identity(identity).ir : undefined);
      }),
    backends: buildBackends(cat, uses, byKind.get('CircuitBreakerPolicy') ?? [], compile, overrides),
  };
  const specs = new Map(cat.store.policies.map((m) => [`${m.kind}/${m.meta.namespace}/${m.meta.name}`, m.policy.spec]));
  const identities = new Map((byKind.get('ClientIdentityPolicy') ?? []).map((a) => [`${a.ref.namespace}/${a.ref.name}`, a]));
  const withNeeds = policies.map((p): PolicyResult => {
    const spec = specs.get(`${p.ref.kind}/${p.ref.namespace}/${p.ref.name}`);
    const overriddenBy = p.accepted.status ? overrides.overriddenBy(p.ref) : undefined;
    const identity = p.ref.kind === 'ClientIdentityPolicy' ? identities.get(`${p.ref.namespace}/${p.ref.name}`) : undefined;
    // Accepted, with what it cannot do where it applies (shed-notes.ts): said in the message and the findings.
    const notes = p.accepted.status ? shed.findings(p.ref) : [];
    return {
      ...p,
      ...(notes.length > 0
        ? {
            accepted: { ...p.accepted, message: `${p.accepted.message}; ${notes.map((f) => `${f.path}: ${f.message}`).join('; ')}` },
            findings: [...p.findings, ...notes],
          }
        : {}),
      features: requiredFeatures(p.ref.kind, spec ?? {}),
      ...(overriddenBy ? { overriddenBy } : {}),
      ...(identity ? { resolvedRefs: resolvedRefs(compile.identity(identity)) } : {}),
    };
  });
  return { ir, policies: withNeeds, routes, problems, ...gatewayStatus(cat, options.controllerName, attachments) };
}
