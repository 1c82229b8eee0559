/**
 * JWT verification keys from files: a JWKS document (`{"keys": [...]}`) or PEM public keys /
 * X.509 certificates. Imported once into KeyObjects with the algorithms each key can verify, so
 * a request only filters a short list. Private key material is refused: a gateway only verifies.
 */
import { type JsonWebKey, type KeyObject, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { JwtAlgorithm, JwtKeySource } from './config.js';

export interface VerifyKey {
  /** `kid` from the JWKS; PEM keys have none and are tried for any `kid`. */
  readonly kid: string | undefined;
  readonly key: KeyObject;
  /** The configured algorithms this key can verify (and, in a JWKS, its own `alg` allows). */
  readonly algorithms: ReadonlySet<string>;
  /** Where it came from, for messages: `jwks.json#kid` or the PEM path. */
  readonly source: string;
}

export class KeyLoadError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'KeyLoadError';
  }
}

/** Every file the key source reads (what to watch for changes). */
export function keyFiles(source: JwtKeySource): readonly string[] {
  return 'jwksFile' in source ? [source.jwksFile] : source.publicKeyFiles;
}

/** Loads at startup: synchronous, so a gateway never serves before its keys are in. */
export function loadKeysSync(source: JwtKeySource, algorithms: readonly JwtAlgorithm[]): VerifyKey[] {
  return buildKeys(source, algorithms, (path, field) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new KeyLoadError(field, `cannot read ${path}: ${(err as Error).message}`);
    }
  });
}

/** Loads on a reload, without blocking the event loop on the file reads. */
export async function loadKeys(source: JwtKeySource, algorithms: readonly JwtAlgorithm[]): Promise<VerifyKey[]> {
  const texts = new Map<string, string>();
  const files = keyFiles(source);
  for (let i = 0; i < files.length; i++) {
    const path = files[i]!;
    try {
      texts.set(path, await readFile(path, 'utf8'));
    } catch (err) {
      throw new KeyLoadError(fieldOf(source, i), `cannot read ${path}: ${(err as Error).message}`);
    }
  }
  return buildKeys(source, algorithms, (path) => texts.get(path) ?? '');
}

function fieldOf(source: JwtKeySource, i: number): string {
  return 'jwksFile' in source ? 'jwt.keys.jwksFile' : `jwt.keys.publicKeyFiles[${i}]`;
}

function buildKeys(source: JwtKeySource, algorithms: readonly JwtAlgorithm[], read: (path: string, field: string) => string): VerifyKey[] {
  if ('jwksFile' in source) return jwksKeys(source.jwksFile, read(source.jwksFile, 'jwt.keys.jwksFile'), algorithms);
  return source.publicKeyFiles.map((path, i) => pemKey(path, read(path, fieldOf(source, i)), algorithms, fieldOf(source, i)));
}

function pemKey(path: string, text: string, algorithms: readonly JwtAlgorithm[], field: string): VerifyKey {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
    throw new KeyLoadError(field, `${path} holds a private key; mount the public key only`);
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (err) {
    throw new KeyLoadError(field, `${path} is not a PEM public key or certificate: ${(err as Error).message}`);
  }
  const fits = algorithmsFor(key, algorithms);
  if (fits.size === 0) {
    const small = (key.asymmetricKeyDetails?.modulusLength ?? 4096) < 2048 ? '; RSA keys need at least 2048 bits' : '';
    throw new KeyLoadError(
      field,
      `${path}: a ${describeKey(key)} key verifies none of the configured algorithms (${algorithms.join(', ')})${small}`,
    );
  }
  return { kid: undefined, key, algorithms: fits, source: path };
}

function jwksKeys(path: string, text: string, algorithms: readonly JwtAlgorithm[]): VerifyKey[] {
  const field = 'jwt.keys.jwksFile';
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new KeyLoadError(field, `${path} is not JSON: ${(err as Error).message}`);
  }
  const keys = typeof doc === 'object' && doc !== null && 'keys' in doc ? doc.keys : undefined;
  if (!Array.isArray(keys)) throw new KeyLoadError(field, `${path} is not a JWKS (an object with a "keys" list)`);
  const out: VerifyKey[] = [];
  keys.forEach((jwk: unknown, i) => {
    const at = `${path} keys[${i}]`;
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new KeyLoadError(field, `${at} is not an object`);
    const k = jwk as JsonWebKey;
    if (k.d !== undefined || k.k !== undefined)
      throw new KeyLoadError(field, `${at} holds private or symmetric key material; publish public keys only`);
    if (k.use !== undefined && k.use !== 'sig') return; // an encryption key: not ours
    let key: KeyObject;
    try {
      key = createPublicKey({ key: k, format: 'jwk' });
    } catch (err) {
      throw new KeyLoadError(field, `${at} is not a usable public key: ${(err as Error).message}`);
    }
    const fits = algorithmsFor(key, algorithms);
    if (typeof k.alg === 'string') for (const a of [...fits]) if (a !== k.alg) fits.delete(a);
    if (fits.size === 0) return; // for some other algorithm than ours
    const kid = typeof k.kid === 'string' ? k.kid : undefined;
    out.push({ kid, key, algorithms: fits, source: `${path}#${kid ?? i}` });
  });
  if (out.length === 0)
    throw new KeyLoadError(field, `${path} has no signing key for the configured algorithms (${algorithms.join(', ')})`);
  return out;
}

const CURVE_ALG: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/** Which of the configured algorithms a key of this type can verify. */
function algorithmsFor(key: KeyObject, algorithms: readonly JwtAlgorithm[]): Set<string> {
  const type = key.asymmetricKeyType;
  const out = new Set<string>();
  for (const alg of algorithms) {
    let ok = false;
    if (alg.startsWith('RS')) ok = type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
    else if (alg.startsWith('PS')) ok = (type === 'rsa' || type === 'rsa-pss') && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
    else if (alg.startsWith('ES')) ok = type === 'ec' && CURVE_ALG[key.asymmetricKeyDetails?.namedCurve ?? ''] === alg;
    else if (alg === 'EdDSA') ok = type === 'ed25519' || type === 'ed448';
    else if (alg === 'Ed25519') ok = type === 'ed25519';
    if (ok) out.add(alg);
  }
  return out;
}

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  const extra = d?.namedCurve ?? (d?.modulusLength ? `${d.modulusLength}-bit` : '');
  return `${key.asymmetricKeyType ?? 'unknown'}${extra ? ` ${extra}` : ''}`;
}
