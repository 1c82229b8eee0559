/**
 * API keys, from a file the gateway never learns a key from: each entry holds the SHA-256 of a
 * key (hex, of its UTF-8 bytes — `printf %s "$KEY" | sha256sum`) with the tenant and user it
 * stands for. YAML or JSON:
 *
 *   keys:
 *     - sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
 *       tenant: acme
 *       user: ingest-bot          # optional (one of tenant, user is required)
 *       name: acme-ingest-2025    # optional label for logs; never the key
 *       expiresAt: 2026-01-01T00:00:00Z   # optional
 *       claims: { plan: gold }    # optional, for custom limit keys
 *
 * A presented key is hashed and looked up by its digest: no code path compares key material. The
 * lookup's timing depends only on the digest of what the client sent, which tells the client
 * nothing about the stored keys (finding a key from a digest prefix means a preimage).
 */
import { hash } from 'node:crypto';
import type { ApiKeyIR } from '@jarvis/api';
import yaml from 'js-yaml';
import { checkId, isIdError } from './ids.js';

export interface ApiKeyEntry {
  /** Lowercase hex SHA-256 of the key. */
  readonly digest: string;
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly name: string | undefined;
  readonly expiresAtMs: number | undefined;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** An unusable key file; `field` names the entry and field (`keys[3].tenant`). */
export class ApiKeyFileError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field ? `${field}: ` : ''}${reason}`);
    this.name = 'ApiKeyFileError';
  }
}

/** The hex SHA-256 a key file stores for `key` (for tooling and tests). */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});
const ENTRY_FIELDS = ['sha256', 'tenant', 'user', 'name', 'expiresAt', 'claims'];

/** Parses a key file into entries by hex digest. Throws ApiKeyFileError naming the field. */
export function parseApiKeyFile(text: string, maxIdLength: number): Map<string, ApiKeyEntry> {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    throw new ApiKeyFileError('', `not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !('keys' in doc)) {
    throw new ApiKeyFileError('', 'must be a map with a "keys" list');
  }
  const extra = Object.keys(doc).filter((k) => k !== 'keys');
  if (extra.length > 0) throw new ApiKeyFileError(extra[0]!, 'unknown field (the file holds only "keys")');
  const keys = doc.keys;
  if (!Array.isArray(keys)) throw new ApiKeyFileError('keys', 'must be a list');
  const out = new Map<string, ApiKeyEntry>();
  keys.forEach((raw: unknown, i) => {
    const at = `keys[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ApiKeyFileError(at, 'must be a map');
    const e = raw as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (k === 'key' || k === 'apiKey' || k === 'secret' || k === 'plaintext') {
        throw new ApiKeyFileError(`${at}.${k}`, 'plaintext keys are not accepted; store sha256 (the hex SHA-256 of the key) instead');
      }
      if (!ENTRY_FIELDS.includes(k)) throw new ApiKeyFileError(`${at}.${k}`, `unknown field (known: ${ENTRY_FIELDS.join(', ')})`);
    }
    const digestHex = typeof e.sha256 === 'string' ? e.sha256.toLowerCase() : undefined;
    if (!digestHex || !/^[0-9a-f]{64}$/.test(digestHex))
      throw new ApiKeyFileError(`${at}.sha256`, 'must be 64 hex characters (the SHA-256 of the key)');
    if (out.has(digestHex)) throw new ApiKeyFileError(`${at}.sha256`, 'the same key hash appears twice');
    const tenant = optionalId(e.tenant, `${at}.tenant`, maxIdLength);
    const user = optionalId(e.user, `${at}.user`, maxIdLength);
    if (tenant === undefined && user === undefined) throw new ApiKeyFileError(at, 'needs a tenant or a user');
    let name: string | undefined;
    if (e.name !== undefined) {
      if (typeof e.name !== 'string' || isIdError(checkId(e.name, 128)))
        throw new ApiKeyFileError(`${at}.name`, 'must be a printable string of at most 128 characters');
      name = e.name;
    }
    let expiresAtMs: number | undefined;
    if (e.expiresAt !== undefined) {
      // YAML turns an unquoted timestamp into a Date; a quoted one stays a string.
      expiresAtMs = e.expiresAt instanceof Date ? e.expiresAt.getTime() : typeof e.expiresAt === 'string' ? Date.parse(e.expiresAt) : NaN;
      if (!Number.isFinite(expiresAtMs))
        throw new ApiKeyFileError(`${at}.expiresAt`, 'must be an RFC 3339 timestamp like 2026-01-01T00:00:00Z');
    }
    let claims = EMPTY;
    if (e.claims !== undefined) {
      if (typeof e.claims !== 'object' || e.claims === null || Array.isArray(e.claims))
        throw new ApiKeyFileError(`${at}.claims`, 'must be a map');
      claims = Object.freeze({ ...(e.claims as Record<string, unknown>) });
    }
    out.set(digestHex, { digest: digestHex, tenant, user, name, expiresAtMs, claims });
  });
  return out;
}

/**
 * Entries delivered with the config (a ClientIdentityPolicy's Secrets, as digests): checked like
 * a file's, so a config a gateway could not key by is refused whole.
 */
export function apiKeyEntries(keys: readonly ApiKeyIR[], maxIdLength: number): Map<string, ApiKeyEntry> {
  const out = new Map<string, ApiKeyEntry>();
  keys.forEach((k, i) => {
    const at = `keys[${i}]`;
    const tenant = optionalId(k.tenant, `${at}.tenant`, maxIdLength);
    const user = optionalId(k.user, `${at}.user`, maxIdLength);
    if (tenant === undefined && user === undefined) throw new ApiKeyFileError(at, 'needs a tenant or a user');
    if (out.has(k.sha256)) throw new ApiKeyFileError(`${at}.sha256`, 'the same key hash appears twice');
    out.set(k.sha256, {
      digest: k.sha256,
      tenant,
      user,
      name: k.name,
      expiresAtMs: k.expiresAtMs,
      claims: Object.freeze({ ...k.claims }),
    });
  });
  return out;
}

function optionalId(v: unknown, field: string, max: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ApiKeyFileError(field, 'must be a string');
  const checked = checkId(v, max);
  if (isIdError(checked)) throw new ApiKeyFileError(field, checked.error);
  return checked;
}

/**
 * The current key set: the keys delivered with the config and those of the key files (each file's
 * set replaced whole on a reload). A key in both counts as the config says.
 */
export class ApiKeyStore {
  readonly #fixed: ReadonlyMap<string, ApiKeyEntry>;
  #files: readonly ReadonlyMap<string, ApiKeyEntry>[];

  constructor(entries: ReadonlyMap<string, ApiKeyEntry>, files: readonly ReadonlyMap<string, ApiKeyEntry>[] = []) {
    this.#fixed = entries;
    this.#files = files;
  }

  get size(): number {
    return this.#fixed.size + this.#files.reduce((n, f) => n + f.size, 0);
  }

  /** New contents of the key file at `index`. */
  replaceFile(index: number, entries: ReadonlyMap<string, ApiKeyEntry>): void {
    this.#files = this.#files.map((f, i) => (i === index ? entries : f));
  }

  /** The entry for a presented key, or undefined. */
  lookup(key: string): ApiKeyEntry | undefined {
    const digest = hash('sha256', key, 'hex');
    const fixed = this.#fixed.get(digest);
    if (fixed || this.#files.length === 0) return fixed;
    for (const f of this.#files) {
      const e = f.get(digest);
      if (e) return e;
    }
    return undefined;
  }
}
