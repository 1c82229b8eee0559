/**
 * Names of watched parameters and the bounded form of their values. Values come from requests
 * (tenant ids, headers, query strings): long or odd ones are replaced by a hash so that the sketch,
 * the admin listing and metric labels never hold more than a few dozen characters per value.
 */
import { createHash } from 'node:crypto';
import { credentialDigest, isCredentialName } from '../credentials.js';
import type { HotspotIR } from './types.js';

/** The parameter a surging route is reported under; its value is the route id. */
export const ROUTE_PARAMETER = 'Route';

/** Values longer than this (UTF-16 code units) are hashed. */
export const MAX_VALUE_LENGTH = 128;

const HASH_PREFIX = '#sha256:';
const CREDENTIAL_PREFIX = '#cred:';

/**
 * Lone surrogates, C0/C1 controls, and the Unicode line/paragraph separators: such values would
 * corrupt logs, labels or JSON consumers, so they are hashed instead of kept.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * 'Tenant', 'User', 'ClientIP', 'Model', 'PromptHash', 'Header:<name>' (name lower case, as Node
 * presents request headers) or 'Query:<name>' (case kept: query names are case-sensitive).
 */
export function hotspotParameterName(p: HotspotIR['parameters'][number]): string {
  switch (p.source) {
    case 'Header':
    case 'Query': {
      if (p.name === undefined || p.name === '') throw new Error(`hotspot parameter ${p.source} needs a name`);
      return p.source === 'Header' ? `Header:${p.name.toLowerCase()}` : `Query:${p.name}`;
    }
    default:
      return p.source;
  }
}

/**
 * The key a value is counted and reported under: the value itself when it is short and safe,
 * otherwise `#sha256:` and 22 base64url characters of the SHA-256 of its UTF-16 code units (so
 * distinct strings, lone surrogates included, keep distinct keys). A value that already looks
 * like a hash key is hashed too, so a client cannot pose as another value's hash.
 */
export function hotspotValueKey(value: string): string {
  if (value.length <= MAX_VALUE_LENGTH && !UNSAFE.test(value) && !value.startsWith(HASH_PREFIX) && !value.startsWith(CREDENTIAL_PREFIX))
    return value;
  return HASH_PREFIX + createHash('sha256').update(value, 'utf16le').digest('base64url').slice(0, 22);
}

/** Whether a parameter (see hotspotParameterName) carries credentials: a header or query parameter with a credential-like name. */
export function isCredentialParameter(parameter: string): boolean {
  const colon = parameter.indexOf(':');
  return colon > 0 && isCredentialName(parameter.slice(colon + 1));
}

/**
 * The key a credential is counted and reported under: `#cred:` and its digest (../credentials.ts),
 * never the value, however short.
 */
export function credentialValueKey(value: string): string {
  return CREDENTIAL_PREFIX + credentialDigest(value);
}
