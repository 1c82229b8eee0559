/**
 * Cache keys: what makes two requests the same for a CachePolicy. The parts are the method, the
 * route, the path, the query string (all parameters, sorted — or none), the selected request
 * headers, the isolation scope (the verified user, the tenant, or nobody) and the body's digest
 * (canonical.ts). They are serialised unambiguously (see `serialized`).
 *
 * A key has two forms:
 *
 * - the **identity**, what `compileKey` returns: the serialized parts themselves when they are at
 *   most MAX_INLINE_KEY characters (nearly every request), else `#` and their SHA-256. It names
 *   the entry inside this gateway (L1, the flights in the air): equal identities are equal
 *   requests, with no hash between them, and no hashing on a request L1 alone serves or misses;
 * - the **id** (`keyId`): 43 base64url characters of SHA-256 of the serialized parts, whatever
 *   the request carries. It names the entry everywhere else — in Redis (no header value or user
 *   id reaches it), in the `x-jarvis-cache-key` response header, in invalidation by key — and is
 *   computed only when one of those needs it.
 *
 * A request whose scope needs an identity it does not have (isolation User without a verified
 * user) has no key: it is neither served from nor stored in the cache.
 */
import { hash } from 'node:crypto';
import type { CacheIR } from '@jarvis/api';
import { bodyDigest } from './canonical.js';

/** What the key reads of a request (the Exchange has all of it). */
export interface KeyedRequest {
  readonly method: string;
  readonly path: string;
  /** Without `?`. */
  readonly query: string;
  readonly user: string | undefined;
  readonly tenant: string | undefined;
  /** The body read before (inspect stage), if any. */
  readonly body: Buffer | undefined;
  /** The parsed JSON body, when the body was JSON. */
  readonly bodyJson: unknown;
  readonly hasBody: boolean;
  header(name: string): string | undefined;
}

export type KeyOf = (r: KeyedRequest) => string | undefined;

/**
 * The longest identity kept as the serialized parts themselves (a longer one is hashed: L1 and
 * the flights hold at most this many characters per key, whatever a request carries).
 */
export const MAX_INLINE_KEY = 256;

/** Marks a hashed identity (a serialized form starts with a digit, or `[` for the JSON one). */
const HASHED = '#';

/** The id of a key (SHA-256 of its serialized parts, 43 base64url characters) from its identity. */
export function keyId(identity: string): string {
  return identity.startsWith(HASHED) ? identity.slice(HASHED.length) : hash('sha256', identity, 'base64url');
}

/** Something that names a cache entry and can give its id (computed once, when asked). */
export interface Keyed {
  readonly key: string;
  readonly id: string;
}

/** The identity of serialized parts (see above). */
function identityOf(serializedParts: string): string {
  return serializedParts.length <= MAX_INLINE_KEY ? serializedParts : HASHED + hash('sha256', serializedParts, 'base64url');
}

/** `a=1&b=2` with its parameters sorted by name, then value (repeated names keep every value). */
export function sortedQuery(query: string): string {
  // One parameter: nothing to sort (its spelling is kept; equivalent spellings are just two keys).
  if (query === '' || !query.includes('&')) return query;
  const params = new URLSearchParams(query);
  params.sort();
  return params.toString();
}

/** Any UTF-16 surrogate, paired or not. */
const SURROGATE = /[\uD800-\uDFFF]/;

/** One part in the serialized form: its length, `:` and itself, or `-` for none. */
function part(p: string | null): string {
  return p === null ? '-' : `${p.length}:${p}`;
}

/**
 * The parts as one string that no other parts make: each part its length, `:` and itself, or `-`
 * for none. SHA-256 reads the string as UTF-8, where a lone surrogate and U+FFFD are the same
 * bytes: parts with any surrogate (a user id from a token can hold a lone one) are written as JSON
 * instead, which escapes lone ones (its `[` is no first character of the other form).
 */
export function serialized(parts: readonly (string | null)[]): string {
  let out = '';
  for (const p of parts) out += part(p);
  // One test of the whole: what the form adds (lengths, `:`, `-`) holds no surrogate.
  return SURROGATE.test(out) ? JSON.stringify(parts) : out;
}

/**
 * The key function of a route under a policy (compiled once at config load): the identity of
 * `serialized([method, route, path, query, scope, tenant, user, body digest, ...headers])`; the
 * parts that do not change from one request to the next (the route, the scope's name, the last
 * method) are serialized once, not per request.
 */
export function compileKey(ir: CacheIR, routeId: string): KeyOf {
  const headers = ir.key.headers;
  const withQuery = ir.key.query === 'All';
  const withBody = ir.key.body;
  const isolation = ir.key.isolation;
  const routePart = part(routeId);
  // The scope: who may share the entry (tenant and user as separate parts: no concatenation
  // of two ids can pose as another pair).
  const scope = isolation === 'User' ? 'user' : isolation === 'Tenant' ? 'tenant' : 'none';
  const scopePart = part(scope);
  const sharedPart = scopePart + part(null) + part(null);
  let lastMethod: string | undefined;
  let methodPart = '';
  return (r) => {
    let tenant: string | null = null;
    let user: string | null = null;
    if (isolation === 'User') {
      if (r.user === undefined || r.user === '') return undefined;
      tenant = r.tenant ?? null;
      user = r.user;
    } else if (isolation === 'Tenant') {
      if (r.tenant === undefined || r.tenant === '') return undefined;
      tenant = r.tenant;
    }
    let body = '';
    if (withBody && r.hasBody) {
      // A body the gateway did not read (over the inspection bound) cannot be keyed.
      if (r.body === undefined) return undefined;
      body = bodyDigest(r.body, r.bodyJson);
    }
    if (r.method !== lastMethod) {
      lastMethod = r.method;
      methodPart = part(r.method) + routePart;
    }
    const query = withQuery ? sortedQuery(r.query) : '';
    let out =
      methodPart + part(r.path) + part(query) + (isolation === 'None' ? sharedPart : scopePart + part(tenant) + part(user)) + part(body);
    for (const h of headers) out += part(r.header(h) ?? null);
    if (SURROGATE.test(out)) {
      // Rare (see serialized): the form for parts with a surrogate.
      const parts: (string | null)[] = [r.method, routeId, r.path, query, scope, tenant, user, body];
      for (const h of headers) parts.push(r.header(h) ?? null);
      out = serialized(parts);
    }
    return identityOf(out);
  };
}
