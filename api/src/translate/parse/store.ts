/**
 * Sorts the input objects by kind and parses each into the typed model. An object that cannot be
 * parsed is reported as a ParseProblem and left out; objects of other kinds are ignored.
 */
import { kindDefinition, type PolicyKind } from '../../schema/kinds.js';
import { isPolicyManifest, validateManifest } from '../../validate/manifest.js';
import { formatFieldError } from '../../validate/errors.js';
import { isObject, type JsonObject } from '../../validate/schema-node.js';
import type {
  EndpointSliceModel,
  GatewayClassModel,
  GatewayModel,
  HTTPRouteModel,
  InvalidPolicyModel,
  NamespaceModel,
  PolicyModel,
  SecretModel,
  ServiceModel,
  Store,
} from '../model.js';
import type { ParseProblem } from '../result.js';
import { parseGateway, parseGatewayClass, parseNamespace } from './gateway.js';
import { GATEWAY_API_GROUP, parseHTTPRoute } from './httproute.js';
import { ParseFailure, meta } from './reader.js';
import { normalizeSections } from './sections.js';
import { isIdentitySecret, parseSecret } from './secret.js';
import { parseEndpointSlice, parseService } from './service.js';

const GATEWAY_API_VERSIONS = new Set([`${GATEWAY_API_GROUP}/v1`, `${GATEWAY_API_GROUP}/v1beta1`]);

export function parseInput(objects: readonly unknown[], defaultNamespace: string): { store: Store; problems: ParseProblem[] } {
  const gatewayClasses: GatewayClassModel[] = [];
  const gateways: GatewayModel[] = [];
  const routes: HTTPRouteModel[] = [];
  const services: ServiceModel[] = [];
  const endpointSlices: EndpointSliceModel[] = [];
  const namespaces: NamespaceModel[] = [];
  const secrets: SecretModel[] = [];
  const policies: PolicyModel[] = [];
  const invalidPolicies: InvalidPolicyModel[] = [];
  const problems: ParseProblem[] = [];

  objects.forEach((raw, index) => {
    if (!isObject(raw)) {
      problems.push({ index, path: '', message: 'not an object' });
      return;
    }
    const apiVersion = typeof raw.apiVersion === 'string' ? raw.apiVersion : undefined;
    const kind = typeof raw.kind === 'string' ? raw.kind : undefined;
    const rawMeta = isObject(raw.metadata) ? raw.metadata : {};
    const identity = {
      index,
      ...(apiVersion ? { apiVersion } : {}),
      ...(kind ? { kind } : {}),
      ...(typeof rawMeta.namespace === 'string' ? { namespace: rawMeta.namespace } : {}),
      ...(typeof rawMeta.name === 'string' ? { name: rawMeta.name } : {}),
    };
    try {
      if (isPolicyManifest(raw)) {
        parsePolicy(raw, defaultNamespace, policies, invalidPolicies, (path, message) => problems.push({ ...identity, path, message }));
        return;
      }
      const gatewayApi = apiVersion !== undefined && GATEWAY_API_VERSIONS.has(apiVersion);
      if (gatewayApi && kind === 'GatewayClass') gatewayClasses.push(parseGatewayClass(raw));
      else if (gatewayApi && kind === 'Gateway') gateways.push(parseGateway(raw, defaultNamespace));
      else if (gatewayApi && kind === 'HTTPRoute') routes.push(parseHTTPRoute(raw, defaultNamespace));
      else if (apiVersion === 'v1' && kind === 'Service') services.push(parseService(raw, defaultNamespace));
      else if (apiVersion === 'v1' && kind === 'Namespace') namespaces.push(parseNamespace(raw));
      else if (apiVersion === 'v1' && kind === 'Secret' && isIdentitySecret(raw)) secrets.push(parseSecret(raw, defaultNamespace));
      else if (apiVersion === 'discovery.k8s.io/v1' && kind === 'EndpointSlice')
        endpointSlices.push(parseEndpointSlice(raw, defaultNamespace));
    } catch (err) {
      if (!(err instanceof ParseFailure)) throw err;
      problems.push({ ...identity, path: err.path, message: err.message });
    }
  });
  return {
    store: { gatewayClasses, gateways, routes, services, endpointSlices, namespaces, secrets, policies, invalidPolicies },
    problems,
  };
}

/**
 * A policy is validated like the apiserver would (schema defaults, structure, CEL). One that
 * fails but has our apiVersion, a kind and a name is kept as Invalid, so that it gets a status;
 * any other is a parse problem.
 */
function parsePolicy(
  raw: JsonObject,
  defaultNamespace: string,
  policies: PolicyModel[],
  invalid: InvalidPolicyModel[],
  problem: (path: string, message: string) => void,
): void {
  const result = validateManifest(raw, { defaultNamespace });
  if (result.ok) {
    const { policy, attachment } = normalizeSections(result.policy);
    policies.push({ kind: result.kind, meta: meta(result.policy as unknown as JsonObject, defaultNamespace), policy, attachment });
    return;
  }
  const kind: PolicyKind | undefined = result.kind && kindDefinition(result.kind) ? result.kind : undefined;
  // Without a kind, version and name we serve there is no object to give a status to.
  const identified = !result.errors.some((e) => ['apiVersion', 'kind', 'metadata', 'metadata.name', 'metadata.namespace'].includes(e.path));
  if (!kind || !identified || result.name === undefined) {
    for (const e of result.errors) problem(e.path, e.message);
    return;
  }
  const m = meta({ metadata: { ...(isObject(raw.metadata) ? raw.metadata : {}), namespace: result.namespace } }, defaultNamespace);
  invalid.push({
    kind,
    meta: m,
    findings: result.errors.map((e) => ({ path: e.path, message: formatFieldError(e).slice(e.path.length + 2) })),
  });
}
