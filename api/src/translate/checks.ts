/**
 * Semantic checks beyond the schema and its CEL rules: references to other objects, and
 * conflicts inside one policy that CEL cannot check cheaply. Any finding makes the policy
 * Accepted=False (Invalid); the rest of the config is unaffected.
 */
import { isReservedFeatureHeader } from '../ir/feature-header.js';
import { isCidr } from '../ir/identity-invariants.js';
import type {
  CircuitBreakerPolicy,
  CachePolicy,
  ClientIdentityPolicy,
  DegradationPolicy,
  QueuePolicy,
  RateLimitPolicy,
} from '../schema/kinds.js';
import { compileRouteRegex } from '../ir/regex.js';
import { resolveServicePort } from './backendref.js';
import type { Catalog } from './catalog.js';
import type { Finding, PolicyModel } from './model.js';

/** A `when` pattern RE2 does not compile (or that is too complex) is refused here, as a route's is. */
function pattern(value: string, path: string, out: Finding[]): void {
  const compiled = compileRouteRegex(value);
  if (!compiled.ok) out.push({ path, message: `invalid regular expression: ${compiled.error}` });
}

function rateLimit(p: RateLimitPolicy, at: string): Finding[] {
  const out: Finding[] = [];
  p.spec.limits.forEach((limit, l) => {
    const lp = `${at}.limits[${l}]`;
    const seen = new Map<string, number>();
    // A burst on a non-bursty algorithm is a CEL rule of the schema: such a policy never gets here.
    (limit.tenantOverrides ?? []).forEach((o, i) => {
      for (const tenant of o.tenants) {
        const first = seen.get(tenant);
        if (first !== undefined)
          out.push({
            path: `${lp}.tenantOverrides[${i}].tenants`,
            message: `tenant ${tenant} already has a quota in ${lp}.tenantOverrides[${first}]`,
          });
        else seen.set(tenant, i);
      }
    });
    const w = limit.when;
    if (w?.path?.type === 'RegularExpression') pattern(w.path.value, `${lp}.when.path.value`, out);
    for (const field of ['headers', 'queryParams'] as const)
      (w?.[field] ?? []).forEach((c, i) => {
        if (c.type === 'RegularExpression' && c.value !== undefined) pattern(c.value, `${lp}.when.${field}[${i}].value`, out);
      });
    if (w?.model?.type === 'RegularExpression') pattern(w.model.value, `${lp}.when.model.value`, out);
  });
  return out;
}

function queue(p: QueuePolicy, at: string): Finding[] {
  const out: Finding[] = [];
  (p.spec.priorityClasses ?? []).forEach((c, i) => {
    const m = c.match;
    const matchesSomething =
      m !== undefined && (m.tenants !== undefined || m.users !== undefined || m.header !== undefined || m.claim !== undefined);
    if (!matchesSomething && c.name !== p.spec.defaultPriorityClass)
      out.push({
        path: `${at}.priorityClasses[${i}].match`,
        message: `priority class ${c.name} matches no request: give it a match or name it in defaultPriorityClass`,
      });
  });
  const shares = (p.spec.priorityClasses ?? []).reduce((n, c) => n + (c.share ?? 0), 0);
  if (shares > 100)
    out.push({ path: 'spec.priorityClasses', message: `the shares of the priority classes add up to ${shares} %, more than 100` });
  return out;
}

function degradation(cat: Catalog, p: DegradationPolicy, namespace: string, at: string): Finding[] {
  const out: Finding[] = [];
  p.spec.fallback?.chain.forEach((step, i) => {
    if (!step.backendRef) return;
    const res = resolveServicePort(cat, namespace, step.backendRef.name, step.backendRef.port);
    if (!res.ok) out.push({ path: `${at}.fallback.chain[${i}].backendRef`, message: res.message });
  });
  const header = p.spec.featureHeader;
  if (header !== undefined && isReservedFeatureHeader(header))
    out.push({
      path: `${at}.featureHeader`,
      message: `${header} is a header the gateway owns (framing, identity, forwarding); choose another, e.g. x-jarvis-features`,
    });
  return out;
}

/** What the schema cannot check of identity settings: addresses that parse, URLs a gateway may fetch. */
export function identityFindings(p: Pick<ClientIdentityPolicy['spec'], 'trustedProxies' | 'jwt'>, root = 'spec'): Finding[] {
  const out: Finding[] = [];
  (p.trustedProxies ?? []).forEach((c, i) => {
    if (!isCidr(c))
      out.push({
        path: `${root}.trustedProxies[${i}]`,
        message: `${c} is not an IPv4 or IPv6 address or CIDR (like 10.0.0.0/8 or fd00::/8)`,
      });
  });
  p.jwt?.providers.forEach((provider, i) => {
    const uri = provider.keys.remote?.uri;
    if (uri === undefined) return;
    let url: URL | undefined;
    try {
      url = new URL(uri);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      out.push({ path: `${root}.jwt.providers[${i}].keys.remote.uri`, message: 'must be an http or https URL' });
    else if (url.username !== '' || url.password !== '')
      out.push({ path: `${root}.jwt.providers[${i}].keys.remote.uri`, message: 'must not carry credentials' });
  });
  return out;
}

const none = (_p: CircuitBreakerPolicy | CachePolicy): Finding[] => [];

export function semanticFindings(cat: Catalog, model: PolicyModel): Finding[] {
  const p = model.policy;
  switch (p.kind) {
    case 'RateLimitPolicy':
      return rateLimit(p, model.attachment.path);
    case 'QueuePolicy':
      return queue(p, model.attachment.path);
    case 'DegradationPolicy':
      return degradation(cat, p, model.meta.namespace, model.attachment.path);
    case 'CircuitBreakerPolicy':
    case 'CachePolicy':
      return none(p);
    case 'ClientIdentityPolicy':
      return identityFindings(p.spec);
  }
}
