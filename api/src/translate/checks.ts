/**
 * Semantic checks beyond the schema and its CEL rules: references to other objects, and
 * conflicts inside one policy that CEL cannot check cheaply. Any finding makes the policy
 * Accepted=False (Invalid); the rest of the config is unaffected.
 */
import { isCidr } from '../ir/identity-invariants.js';
import type {
  CircuitBreakerPolicy,
  CachePolicy,
  ClientIdentityPolicy,
  DegradationPolicy,
  QueuePolicy,
  RateLimitPolicy,
} from '../schema/kinds.js';
import { resolveServicePort } from './backendref.js';
import type { Catalog } from './catalog.js';
import type { Finding, PolicyModel } from './model.js';

function rateLimit(p: RateLimitPolicy): Finding[] {
  const out: Finding[] = [];
  p.spec.limits.forEach((limit, l) => {
    const seen = new Map<string, number>();
    // A burst on a non-bursty algorithm is a CEL rule of the schema: such a policy never gets here.
    (limit.tenantOverrides ?? []).forEach((o, i) => {
      const at = `spec.limits[${l}].tenantOverrides[${i}]`;
      for (const tenant of o.tenants) {
        const first = seen.get(tenant);
        if (first !== undefined)
          out.push({
            path: `${at}.tenants`,
            message: `tenant ${tenant} already has a quota in spec.limits[${l}].tenantOverrides[${first}]`,
          });
        else seen.set(tenant, i);
      }
    });
  });
  return out;
}

function queue(p: QueuePolicy): Finding[] {
  const out: Finding[] = [];
  (p.spec.priorityClasses ?? []).forEach((c, i) => {
    const m = c.match;
    const matchesSomething = m !== undefined && (m.tenants !== undefined || m.users !== undefined || m.header !== undefined);
    if (!matchesSomething && c.name !== p.spec.defaultPriorityClass)
      out.push({
        path: `spec.priorityClasses[${i}].match`,
        message: `priority class ${c.name} matches no request: give it a match or name it in defaultPriorityClass`,
      });
  });
  return out;
}

function degradation(cat: Catalog, p: DegradationPolicy, namespace: string): Finding[] {
  const out: Finding[] = [];
  p.spec.fallback?.chain.forEach((step, i) => {
    if (!step.backendRef) return;
    const res = resolveServicePort(cat, namespace, step.backendRef.name, step.backendRef.port);
    if (!res.ok) out.push({ path: `spec.fallback.chain[${i}].backendRef`, message: res.message });
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
      return rateLimit(p);
    case 'QueuePolicy':
      return queue(p);
    case 'DegradationPolicy':
      return degradation(cat, p, model.meta.namespace);
    case 'CircuitBreakerPolicy':
    case 'CachePolicy':
      return none(p);
    case 'ClientIdentityPolicy':
      return identityFindings(p.spec);
  }
}
