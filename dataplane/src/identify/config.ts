/**
 * Identity config: who may say who is calling. Read once from YAML (`--identity FILE`), checked
 * field by field at this edge, and handed on as plain typed data; nothing later sees raw YAML.
 * Relative file paths are resolved against the config file's directory.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import yaml from 'js-yaml';
import { parseCidr } from './ip.js';
import type { ForwardedHeaderName } from './forwarded.js';

/** Signature algorithms we verify. Symmetric (HS*) and `none` are refused on purpose. */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export type JwtKeySource = { readonly jwksFile: string } | { readonly publicKeyFiles: readonly string[] };

export interface JwtConfig {
  /** The exact `iss` every token must carry. */
  readonly issuer: string;
  /** The token's `aud` must contain at least one of these. */
  readonly audiences: readonly string[];
  /** Verification keys: a JWKS file (a mounted Secret or ConfigMap) or PEM public keys / certificates. */
  readonly keys: JwtKeySource;
  /** Accepted `alg` values; a token with any other is refused. */
  readonly algorithms: readonly JwtAlgorithm[];
  /** Leeway for `exp` and `nbf`, seconds. */
  readonly clockToleranceSec: number;
  /** Top-level claim holding the tenant (exact name, dots are part of it). */
  readonly tenantClaim: string;
  /** Top-level claim holding the user. */
  readonly userClaim: string;
  /** Where the token is: header name (lowercase) and scheme (`Bearer`), or scheme null for a bare token. */
  readonly header: { readonly name: string; readonly scheme: string | null };
  /**
   * True: a request without credentials is refused with 401. A verified API key, or identity
   * headers from a trusted proxy, count as credentials too.
   */
  readonly required: boolean;
  /** Verified tokens remembered (by SHA-256 of the token) until they expire. */
  readonly cacheSize: number;
  /** Longer tokens are refused before any parsing. */
  readonly maxTokenLength: number;
}

export interface ApiKeysConfig {
  /** YAML/JSON file of SHA-256 key hashes with their tenant and user (format: apikeys.ts). */
  readonly file: string;
  /** Request header carrying the key (lowercase). */
  readonly header: string;
}

export interface IdentityConfig {
  readonly jwt: JwtConfig | null;
  readonly apiKeys: ApiKeysConfig | null;
  /** CIDRs (IPv4 and IPv6) of direct peers whose forwarding and identity headers are believed. */
  readonly trustedProxies: readonly string[];
  /** The one header the trusted proxies maintain: `x-forwarded-for` or RFC 7239 `forwarded`. */
  readonly forwardedHeader: ForwardedHeaderName;
  /** Entries of the forwarding header read at most, from the right. */
  readonly maxForwardedHops: number;
  /** Headers naming tenant and user, believed only from a trusted direct peer (lowercase). */
  readonly trustedHeaders: { readonly tenant: string; readonly user: string };
  /** Client IPv6 addresses are counted by this prefix length. */
  readonly ipv6Prefix: number;
  /** Longest tenant or user value, in UTF-16 code units after NFC. */
  readonly maxIdLength: number;
  /** How often key files (JWKS, PEM, API keys) are checked for changes, seconds; 0 never. */
  readonly reloadIntervalSec: number;
}

const DEFAULT_TRUSTED_HEADERS = Object.freeze({ tenant: 'x-tenant-id', user: 'x-user-id' });

/** Anonymous: no JWT, no API keys, no trusted proxies; the client is the direct peer. */
export const defaultIdentityConfig: IdentityConfig = Object.freeze({
  jwt: null,
  apiKeys: null,
  trustedProxies: Object.freeze([]) as readonly string[],
  forwardedHeader: 'x-forwarded-for',
  maxForwardedHops: 16,
  trustedHeaders: DEFAULT_TRUSTED_HEADERS,
  ipv6Prefix: 64,
  maxIdLength: 256,
  reloadIntervalSec: 10,
});

/** A config that cannot be used; `field` is the path of the offending field (`jwt.audiences[1]`). */
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

/** Reads, parses and checks an identity config file. */
export async function loadIdentityConfig(path: string): Promise<IdentityConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new IdentityConfigError('', `cannot read the identity config: ${(err as Error).message}`, path);
  }
  let raw: unknown;
  try {
    raw = yaml.load(text, { filename: path });
  } catch (err) {
    throw new IdentityConfigError('', `not valid YAML: ${(err as Error).message}`, path);
  }
  try {
    return parseIdentityConfig(raw ?? {}, { baseDir: dirname(resolve(path)) });
  } catch (err) {
    if (err instanceof IdentityConfigError) throw new IdentityConfigError(err.field, err.reason, path);
    throw err;
  }
}

/** Checks a parsed document; `baseDir` resolves relative file paths (default: the working directory). */
export function parseIdentityConfig(raw: unknown, options: { baseDir?: string } = {}): IdentityConfig {
  const baseDir = options.baseDir ?? process.cwd();
  const file = (value: unknown, field: string): string => {
    const p = str(value, field);
    return isAbsolute(p) ? p : resolve(baseDir, p);
  };
  const root = obj(raw, '', [
    'jwt',
    'apiKeys',
    'trustedProxies',
    'forwardedHeader',
    'maxForwardedHops',
    'trustedHeaders',
    'ipv6Prefix',
    'maxIdLength',
    'reloadIntervalSec',
  ]);
  const d = defaultIdentityConfig;

  const trustedProxies =
    root.trustedProxies === undefined
      ? d.trustedProxies
      : list(root.trustedProxies, 'trustedProxies', false).map((c, i) => {
          const s = str(c, `trustedProxies[${i}]`).trim();
          if (!parseCidr(s))
            throw new IdentityConfigError(
              `trustedProxies[${i}]`,
              `'${s}' is not an IPv4 or IPv6 address or CIDR (like 10.0.0.0/8 or fd00::/8)`,
            );
          return s;
        });

  let forwardedHeader = d.forwardedHeader;
  if (root.forwardedHeader !== undefined) {
    const h = str(root.forwardedHeader, 'forwardedHeader').toLowerCase();
    if (h !== 'x-forwarded-for' && h !== 'forwarded')
      throw new IdentityConfigError('forwardedHeader', `must be 'x-forwarded-for' or 'forwarded', got '${h}'`);
    forwardedHeader = h;
  }

  let trustedHeaders = d.trustedHeaders;
  if (root.trustedHeaders !== undefined) {
    const t = obj(root.trustedHeaders, 'trustedHeaders', ['tenant', 'user']);
    trustedHeaders = {
      tenant: t.tenant === undefined ? DEFAULT_TRUSTED_HEADERS.tenant : headerName(t.tenant, 'trustedHeaders.tenant'),
      user: t.user === undefined ? DEFAULT_TRUSTED_HEADERS.user : headerName(t.user, 'trustedHeaders.user'),
    };
  }

  const jwt = root.jwt === undefined || root.jwt === null ? null : parseJwt(root.jwt, file);

  let apiKeys: ApiKeysConfig | null = null;
  if (root.apiKeys !== undefined && root.apiKeys !== null) {
    const a = obj(root.apiKeys, 'apiKeys', ['file', 'header']);
    apiKeys = {
      file: file(a.file, 'apiKeys.file'),
      header: a.header === undefined ? 'x-api-key' : headerName(a.header, 'apiKeys.header'),
    };
  }

  const config: IdentityConfig = {
    jwt,
    apiKeys,
    trustedProxies,
    forwardedHeader,
    maxForwardedHops: root.maxForwardedHops === undefined ? d.maxForwardedHops : int(root.maxForwardedHops, 'maxForwardedHops', 1, 64),
    trustedHeaders,
    ipv6Prefix: root.ipv6Prefix === undefined ? d.ipv6Prefix : int(root.ipv6Prefix, 'ipv6Prefix', 1, 128),
    maxIdLength: root.maxIdLength === undefined ? d.maxIdLength : int(root.maxIdLength, 'maxIdLength', 1, 4096),
    reloadIntervalSec:
      root.reloadIntervalSec === undefined ? d.reloadIntervalSec : int(root.reloadIntervalSec, 'reloadIntervalSec', 0, 86_400),
  };

  const credentialHeaders = [config.jwt?.header.name, config.apiKeys?.header, trustedHeaders.tenant, trustedHeaders.user].filter(
    (h) => h !== undefined,
  );
  if (new Set(credentialHeaders).size !== credentialHeaders.length) {
    throw new IdentityConfigError(
      '',
      `jwt.header.name, apiKeys.header and trustedHeaders must name different headers (${credentialHeaders.join(', ')})`,
    );
  }
  return config;
}

function parseJwt(raw: unknown, file: (v: unknown, field: string) => string): JwtConfig {
  const j = obj(raw, 'jwt', [
    'issuer',
    'audiences',
    'keys',
    'algorithms',
    'clockToleranceSec',
    'tenantClaim',
    'userClaim',
    'header',
    'required',
    'cacheSize',
    'maxTokenLength',
  ]);
  const audiences = list(j.audiences, 'jwt.audiences', true).map((a, i) => str(a, `jwt.audiences[${i}]`));

  const k = obj(j.keys, 'jwt.keys', ['jwksFile', 'publicKeyFiles']);
  if ((k.jwksFile === undefined) === (k.publicKeyFiles === undefined)) {
    throw new IdentityConfigError('jwt.keys', 'set exactly one of jwksFile or publicKeyFiles');
  }
  const keys: JwtKeySource =
    k.jwksFile !== undefined
      ? { jwksFile: file(k.jwksFile, 'jwt.keys.jwksFile') }
      : { publicKeyFiles: list(k.publicKeyFiles, 'jwt.keys.publicKeyFiles', true).map((p, i) => file(p, `jwt.keys.publicKeyFiles[${i}]`)) };

  let algorithms: readonly JwtAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];
  if (j.algorithms !== undefined) {
    algorithms = list(j.algorithms, 'jwt.algorithms', true).map((a, i) => {
      const field = `jwt.algorithms[${i}]`;
      const s = str(a, field);
      const known = JWT_ALGORITHMS.find((x) => x === s);
      if (known) return known;
      if (s.toLowerCase() === 'none' || /^HS/i.test(s)) {
        throw new IdentityConfigError(
          field,
          `'${s}' is not accepted: unsigned and shared-secret (HS*) tokens can be forged by anyone holding the config`,
        );
      }
      throw new IdentityConfigError(field, `unknown algorithm '${s}' (one of ${JWT_ALGORITHMS.join(', ')})`);
    });
  }

  let header: JwtConfig['header'] = { name: 'authorization', scheme: 'Bearer' };
  if (j.header !== undefined) {
    const h = obj(j.header, 'jwt.header', ['name', 'scheme']);
    const name = h.name === undefined ? 'authorization' : headerName(h.name, 'jwt.header.name');
    let scheme: string | null = 'Bearer';
    if (h.scheme === null || h.scheme === '') scheme = null;
    else if (h.scheme !== undefined) {
      scheme = str(h.scheme, 'jwt.header.scheme');
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(scheme))
        throw new IdentityConfigError('jwt.header.scheme', `'${scheme}' is not an HTTP auth scheme token`);
    }
    header = { name, scheme };
  }

  return {
    issuer: str(j.issuer, 'jwt.issuer'),
    audiences,
    keys,
    algorithms,
    clockToleranceSec: j.clockToleranceSec === undefined ? 30 : int(j.clockToleranceSec, 'jwt.clockToleranceSec', 0, 600),
    tenantClaim: j.tenantClaim === undefined ? 'tenant' : str(j.tenantClaim, 'jwt.tenantClaim'),
    userClaim: j.userClaim === undefined ? 'sub' : str(j.userClaim, 'jwt.userClaim'),
    header,
    required: j.required === undefined ? false : bool(j.required, 'jwt.required'),
    cacheSize: j.cacheSize === undefined ? 1024 : int(j.cacheSize, 'jwt.cacheSize', 0, 1_000_000),
    maxTokenLength: j.maxTokenLength === undefined ? 8192 : int(j.maxTokenLength, 'jwt.maxTokenLength', 256, 65_536),
  };
}

// --- field readers: each names the field it refuses ---

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`;
}

function obj(v: unknown, field: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new IdentityConfigError(field, `must be a map, got ${describe(v)}`);
  const record = v as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) {
      throw new IdentityConfigError(field ? `${field}.${key}` : key, `unknown field (known here: ${allowed.join(', ')})`);
    }
  }
  return record;
}

function list(v: unknown, field: string, nonEmpty: boolean): unknown[] {
  if (!Array.isArray(v)) throw new IdentityConfigError(field, `must be a list, got ${describe(v)}`);
  if (nonEmpty && v.length === 0) throw new IdentityConfigError(field, 'must not be empty');
  return v;
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.trim().length === 0)
    throw new IdentityConfigError(field, `must be a non-empty string, got ${describe(v)}`);
  return v;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new IdentityConfigError(field, `must be an integer from ${min} to ${max}, got ${describe(v)}`);
  }
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new IdentityConfigError(field, `must be true or false, got ${describe(v)}`);
  return v;
}

function headerName(v: unknown, field: string): string {
  const s = str(v, field);
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(s)) throw new IdentityConfigError(field, `'${s}' is not a valid HTTP header name`);
  return s.toLowerCase();
}
