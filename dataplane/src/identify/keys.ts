/**
 * JWT verification keys: from the config (a JWKS delivered inline, from a Secret), a JWKS
 * document (a file or a fetched URL) or PEM public keys / X.509 certificates. Imported once into
 * KeyObjects with the algorithms each key can verify, so a request only filters a short list.
 * Private key material is refused: a gateway only verifies. The JWKS rules are the translator's
 * (api/src/translate/jwks.ts), so what the operator accepts a gateway accepts.
 */
import { type KeyObject, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { algorithmsFor, describeKey, readJwks, type JwtAlgorithm, type JwtProviderIR } from '@jarvis/api';

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

type FileKeys = Extract<JwtProviderIR['keys'], { type: 'JwksFile' | 'PemFiles' }>;

/** Every file a key source reads (what to watch for changes). */
export function keyFiles(source: FileKeys): readonly string[] {
  return source.type === 'JwksFile' ? [source.path] : source.paths;
}

/** Keys of a JWKS document (text): every usable signing key for the algorithms; throws when there is none. */
export function jwksKeys(text: string, algorithms: readonly JwtAlgorithm[], where: string, field: string): VerifyKey[] {
  const read = readJwks(text, algorithms);
  if (!read.ok) throw new KeyLoadError(field, `${where} ${read.error}`);
  return read.keys.map((k) => ({ kid: k.kid, key: k.key, algorithms: k.algorithms, source: `${where}#${k.kid ?? k.index}` }));
}

/** Loads file keys at compile time: synchronous, so a config never takes effect before its keys are in. */
export function loadFileKeysSync(source: FileKeys, algorithms: readonly JwtAlgorithm[], field: string): VerifyKey[] {
  return buildKeys(source, algorithms, field, (path, at) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new KeyLoadError(at, `cannot read ${path}: ${(err as Error).message}`);
    }
  });
}

/** Loads file keys on a reload, without blocking the event loop on the reads. */
export async function loadFileKeys(source: FileKeys, algorithms: readonly JwtAlgorithm[], field: string): Promise<VerifyKey[]> {
  const texts = new Map<string, string>();
  const files = keyFiles(source);
  for (let i = 0; i < files.length; i++) {
    const path = files[i]!;
    try {
      texts.set(path, await readFile(path, 'utf8'));
    } catch (err) {
      throw new KeyLoadError(fieldOf(source, field, i), `cannot read ${path}: ${(err as Error).message}`);
    }
  }
  return buildKeys(source, algorithms, field, (path) => texts.get(path) ?? '');
}

/** The field of the identity file that names the path (only files name paths). */
function fieldOf(source: FileKeys, field: string, i: number): string {
  return source.type === 'JwksFile' ? `${field}.jwksFile` : `${field}.publicKeyFiles[${i}]`;
}

function buildKeys(
  source: FileKeys,
  algorithms: readonly JwtAlgorithm[],
  field: string,
  read: (path: string, field: string) => string,
): VerifyKey[] {
  if (source.type === 'JwksFile') return jwksKeys(read(source.path, `${field}.jwksFile`), algorithms, source.path, `${field}.jwksFile`);
  return source.paths.map((path, i) => pemKey(path, read(path, fieldOf(source, field, i)), algorithms, fieldOf(source, field, i)));
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
