/** The invariants of an IdentityIR that its schema cannot express (called from invariants.ts). */
import { isIP } from 'node:net';
import { compareStrings } from './order.js';
import type { IdentityIR } from './types.js';

/** Whether `s` is an IPv4 or IPv6 address, or one with a prefix length in range (`10.0.0.0/8`). */
export function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

const HEADER = /^[a-z0-9!#$%&'*+\-.^_`|~]+$/;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** The invariants of an IdentityIR the schema cannot express; `<path>: <message>` each. */
export function identityInvariants(id: IdentityIR, path: string): string[] {
  const errors: string[] = [];
  id.trustedProxies.forEach((c, i) => {
    if (!isCidr(c)) errors.push(`${path}.trustedProxies[${i}]: ${JSON.stringify(c)} is not an IPv4 or IPv6 address or CIDR`);
  });
  const headers: [string, string][] = [
    ['trustedHeaders.tenant', id.trustedHeaders.tenant],
    ['trustedHeaders.user', id.trustedHeaders.user],
    ['forwardedHeader', id.forwardedHeader],
  ];
  if (id.jwt) headers.push(['jwt.header.name', id.jwt.header.name]);
  if (id.apiKeys) headers.push(['apiKeys.header', id.apiKeys.header]);
  const seen = new Map<string, string>();
  for (const [field, name] of headers) {
    if (!HEADER.test(name)) errors.push(`${path}.${field}: ${JSON.stringify(name)} is not a lower-case header name`);
    const other = seen.get(name);
    if (other !== undefined) errors.push(`${path}.${field}: names the same header as ${other} (${name})`);
    seen.set(name, field);
  }
  if (id.jwt) {
    const jp = `${path}.jwt`;
    if (id.jwt.header.scheme !== '' && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(id.jwt.header.scheme))
      errors.push(`${jp}.header.scheme: ${JSON.stringify(id.jwt.header.scheme)} is not an auth scheme`);
    const names = new Set<string>();
    const issuers = new Set<string>();
    id.jwt.providers.forEach((p, i) => {
      const pp = `${jp}.providers[${i}]`;
      if (names.has(p.name)) errors.push(`${pp}.name: duplicate provider ${p.name}`);
      if (issuers.has(p.issuer)) errors.push(`${pp}.issuer: another provider has issuer ${p.issuer}`);
      names.add(p.name);
      issuers.add(p.issuer);
      if (i > 0 && compareStrings(id.jwt!.providers[i - 1]!.name, p.name) > 0) errors.push(`${pp}: providers must be sorted by name`);
      if (new Set(p.algorithms).size !== p.algorithms.length) errors.push(`${pp}.algorithms: duplicates`);
      const k = p.keys;
      if (k.type === 'Remote') {
        const uri = k.uri;
        let ok = false;
        try {
          const u = new URL(uri);
          ok = (u.protocol === 'https:' || u.protocol === 'http:') && u.username === '' && u.password === '';
        } catch {
          ok = false;
        }
        if (!ok) errors.push(`${pp}.keys.uri: must be an http or https URL without credentials`);
        if (k.timeoutMs >= k.refreshIntervalMs) errors.push(`${pp}.keys.timeoutMs: must be shorter than refreshIntervalMs`);
      }
      if (k.type === 'Inline')
        k.keys.forEach((jwk, j) => {
          const secret = PRIVATE_JWK_MEMBERS.filter((m) => (jwk as Readonly<Record<string, unknown>>)[m] !== undefined);
          if (secret.length > 0) errors.push(`${pp}.keys.keys[${j}]: holds private or symmetric key material (${secret.join(', ')})`);
        });
    });
  }
  if (id.apiKeys) {
    const keys = id.apiKeys.keys;
    for (let i = 1; i < keys.length; i++)
      if (compareStrings(keys[i - 1]!.sha256, keys[i]!.sha256) >= 0)
        errors.push(`${path}.apiKeys.keys[${i}]: must be sorted by sha256 and unique`);
  }
  return errors;
}
