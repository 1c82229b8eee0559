/**
 * JWKS documents (RFC 7517) as identity reads them: public signing keys only, each importable by
 * node:crypto and usable with at least one configured algorithm. The translator checks a Secret's
 * document with it before any gateway sees it; the gateway imports the same keys with the same
 * rules (dataplane/src/identify/keys.ts), so what the operator accepts a gateway accepts.
 */
import { type JsonWebKey, type KeyObject, createPublicKey } from 'node:crypto';
import { MAX_JWKS_BYTES, MAX_JWKS_KEYS, type JwtAlgorithm } from '../schema/identity.js';

const CURVE_ALG: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/** Which of the configured algorithms a key of this type can verify (RSA needs 2048 bits or more). */
export function algorithmsFor(key: KeyObject, algorithms: readonly JwtAlgorithm[]): Set<string> {
  const type = key.asymmetricKeyType;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  const out = new Set<string>();
  for (const alg of algorithms) {
    let ok = false;
    if (alg.startsWith('RS')) ok = type === 'rsa' && bits >= 2048;
    else if (alg.startsWith('PS')) ok = (type === 'rsa' || type === 'rsa-pss') && bits >= 2048;
    else if (alg.startsWith('ES')) ok = type === 'ec' && CURVE_ALG[key.asymmetricKeyDetails?.namedCurve ?? ''] === alg;
    else if (alg === 'EdDSA') ok = type === 'ed25519' || type === 'ed448';
    else if (alg === 'Ed25519') ok = type === 'ed25519';
    if (ok) out.add(alg);
  }
  return out;
}

/** `rsa 2048-bit`, `ec prime256v1`: for messages. */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  const extra = d?.namedCurve ?? (d?.modulusLength ? `${d.modulusLength}-bit` : '');
  return `${key.asymmetricKeyType ?? 'unknown'}${extra ? ` ${extra}` : ''}`;
}

/** One usable key of a document: the JWK as published, its KeyObject and what it verifies. */
export interface UsableJwk {
  readonly jwk: Readonly<Record<string, unknown>> & { readonly kty: string };
  readonly key: KeyObject;
  readonly kid: string | undefined;
  /** The configured algorithms it verifies (narrowed by its own `alg`). */
  readonly algorithms: ReadonlySet<string>;
  /** Position in the document's keys. */
  readonly index: number;
}

export type JwksResult = { readonly ok: true; readonly keys: readonly UsableJwk[] } | { readonly ok: false; readonly error: string };

/**
 * Reads a JWKS document. Refused: not JSON, not `{"keys": [...]}`, more than MAX_JWKS_KEYS keys,
 * a key with private or symmetric material, a key node:crypto cannot import, and a document with
 * no signing key for any configured algorithm. Encryption keys (`use: enc`) and keys for other
 * algorithms are skipped.
 */
export function readJwks(text: string, algorithms: readonly JwtAlgorithm[]): JwksResult {
  if (text.length > MAX_JWKS_BYTES) return { ok: false, error: `is larger than ${MAX_JWKS_BYTES} bytes` };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `is not JSON: ${(err as Error).message}` };
  }
  const list = typeof doc === 'object' && doc !== null && !Array.isArray(doc) && 'keys' in doc ? doc.keys : undefined;
  if (!Array.isArray(list)) return { ok: false, error: 'is not a JWKS (an object with a "keys" list)' };
  if (list.length > MAX_JWKS_KEYS) return { ok: false, error: `has ${list.length} keys; at most ${MAX_JWKS_KEYS}` };
  const out: UsableJwk[] = [];
  for (const [i, raw] of list.entries()) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: `keys[${i}] is not an object` };
    const jwk = raw as JsonWebKey & Record<string, unknown>;
    if (typeof jwk.kty !== 'string') return { ok: false, error: `keys[${i}] has no "kty"` };
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'].some((m) => jwk[m] !== undefined))
      return { ok: false, error: `keys[${i}] holds private or symmetric key material; publish public keys only` };
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' });
    } catch (err) {
      return { ok: false, error: `keys[${i}] is not a usable public key: ${(err as Error).message}` };
    }
    const fits = algorithmsFor(key, algorithms);
    if (typeof jwk.alg === 'string') for (const a of [...fits]) if (a !== jwk.alg) fits.delete(a);
    if (fits.size === 0) continue;
    out.push({ jwk: jwk as UsableJwk['jwk'], key, kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, algorithms: fits, index: i });
  }
  if (out.length === 0) return { ok: false, error: `has no signing key for the configured algorithms (${algorithms.join(', ')})` };
  return { ok: true, keys: out };
}
