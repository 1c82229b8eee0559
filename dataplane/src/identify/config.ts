/**
 * The gateway's own identity settings (`--identity FILE`): the spec of a ClientIdentityPolicy
 * without targetRefs (api/src/schema/identity.ts), read by the same validation as the CR
 * (defaults, structure, CEL rules) and compiled by the same code into the IR the identify stage
 * runs on. Keys come from files here (relative paths are read from the file's folder) or from a
 * JWKS URL; Secrets need the operator. A Gateway with a ClientIdentityPolicy uses that instead.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  IdentitySettings,
  YamlError,
  compileIdentity,
  formatFieldError,
  identityFindings,
  identityInvariants,
  loadYamlDocuments,
  validateValue,
  type IdentityIR,
} from '@jarvis/api';

/** A config that cannot be used; `field` is the path of the (first) offending field (`jwt.providers[0].audiences`). */
export class IdentityConfigError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly source?: string,
  ) {
    super(`${source ? `${source}: ` : ''}${field ? `${field}: ` : ''}${reason}`);
    this.name = 'IdentityConfigError';
  }
}

/** Anonymous: no JWT, no API keys, no trusted proxies; the client is the direct peer. */
export const anonymousIdentity: IdentityIR = parseIdentitySettings({});

/** Reads, parses and checks an identity file. */
export async function loadIdentityFile(path: string): Promise<IdentityIR> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new IdentityConfigError('', `cannot read the identity file: ${(err as Error).message}`, path);
  }
  let docs: unknown[];
  try {
    docs = loadYamlDocuments(text);
  } catch (err) {
    throw new IdentityConfigError('', `not valid YAML: ${err instanceof YamlError ? err.message : String(err)}`, path);
  }
  if (docs.length > 1) throw new IdentityConfigError('', 'holds more than one YAML document', path);
  try {
    return parseIdentitySettings(docs[0] ?? {}, { baseDir: dirname(resolve(path)) });
  } catch (err) {
    if (err instanceof IdentityConfigError) throw new IdentityConfigError(err.field, err.reason, path);
    throw err;
  }
}

/** Checks a parsed document and compiles it; `baseDir` resolves relative file paths (default: the working directory). */
export function parseIdentitySettings(raw: unknown, options: { baseDir?: string } = {}): IdentityIR {
  const baseDir = options.baseDir ?? process.cwd();
  const checked = validateValue(IdentitySettings, raw);
  if (!checked.ok) {
    const first = checked.errors[0]!;
    throw new IdentityConfigError(first.path, checked.errors.map((e) => (e === first ? e.message : formatFieldError(e))).join('; '));
  }
  const settings = checked.value;
  settings.jwt?.providers.forEach((p, i) => {
    if (p.keys.secretRef)
      throw new IdentityConfigError(
        `jwt.providers[${i}].keys.secretRef`,
        'a Secret can only be read by the operator (a ClientIdentityPolicy); in a file use jwksFile, publicKeyFiles or remote',
      );
  });
  if (settings.apiKeys?.secretSelector)
    throw new IdentityConfigError(
      'apiKeys.secretSelector',
      'Secrets can only be read by the operator (a ClientIdentityPolicy); in a file use apiKeys.file',
    );
  const finding = identityFindings(settings, '')[0];
  if (finding) throw new IdentityConfigError(finding.path.replace(/^\./, ''), finding.message);
  const { ir } = compileIdentity(settings, undefined, { path: (p) => (isAbsolute(p) ? p : resolve(baseDir, p)) });
  const broken = identityInvariants(ir, '')[0];
  if (broken) throw new IdentityConfigError('', broken.replace(/^\./, ''));
  return ir;
}
