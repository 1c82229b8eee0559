/**
 * Identity settings (a ClientIdentityPolicy's spec, or a gateway's `--identity` file: one schema)
 * → IdentityIR. Keys named by reference are resolved here: a JWKS from a Secret becomes its usable
 * public keys, API keys from Secrets become SHA-256 digests with the identity their Secret's
 * annotations give them — no key itself ever goes further. A Secret that is missing or unusable
 * is reported (ResolvedRefs) and its keys are left out, so what it would verify is refused.
 */
import { createHash } from 'node:crypto';
import { checkId, isIdError } from '../../ir/ids.js';
import { compareStrings } from '../../ir/order.js';
import type { ApiKeyIR, IdentityIR, JwtProviderIR, PolicyRef } from '../../ir/types.js';
import {
  API_KEY_ANNOTATIONS,
  IDENTITY_SECRET_LABEL,
  MAX_API_KEY_LENGTH,
  MAX_API_KEYS,
  type IdentitySettings,
  type JwtAlgorithm,
} from '../../schema/identity.js';
import { durationMs } from '../duration.js';
import { readJwks } from '../jwks.js';
import type { SecretModel } from '../model.js';

export type IdentityRefReason = 'SecretNotFound' | 'InvalidSecret';

/** A reference that could not be used: the field it concerns, and why. */
export interface IdentityRefProblem {
  readonly path: string;
  readonly reason: IdentityRefReason;
  readonly message: string;
}

/** Where referenced keys come from. */
export interface IdentitySources {
  /** Identity-labelled Secrets of the policy's namespace; absent where there are none (a file). */
  readonly secrets?: {
    get(name: string): SecretModel | undefined;
    /** Those carrying every label of `labels`, sorted by name. */
    select(labels: Readonly<Record<string, string>>): readonly SecretModel[];
  };
  /** Turns a file path as written into the one the gateway opens (relative to the file's folder). */
  readonly path?: (written: string) => string;
}

export interface CompiledIdentity {
  readonly ir: IdentityIR;
  /** Empty when every reference resolved to usable keys. */
  readonly problems: readonly IdentityRefProblem[];
  /** What the references resolved to, for the ResolvedRefs message: `2 JWKS keys, 3 API keys from 2 Secrets`. */
  readonly summary: string;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** A key as an entry holds it: one trailing newline (as `kubectl create secret --from-file` keeps it) is not part of it. */
function keyText(value: Buffer): string | { error: string } {
  let end = value.length;
  if (end > 0 && value[end - 1] === 0x0a) end--;
  if (end > 0 && value[end - 1] === 0x0d) end--;
  if (end === 0) return { error: 'is empty' };
  if (end > MAX_API_KEY_LENGTH) return { error: `is longer than ${MAX_API_KEY_LENGTH} characters` };
  for (let i = 0; i < end; i++) {
    const c = value[i]!;
    if (c < 0x21 || c > 0x7e) return { error: 'may hold only visible ASCII characters (no spaces, controls or other bytes)' };
  }
  return value.toString('latin1', 0, end);
}

interface SecretIdentity {
  readonly tenant?: string;
  readonly user?: string;
  readonly expiresAtMs?: number;
  readonly claims: Readonly<Record<string, string>>;
}

/** Who the keys of an API-key Secret stand for, from its annotations. */
function secretIdentity(secret: SecretModel, maxIdLength: number): SecretIdentity | { error: string } {
  const a = secret.annotations;
  const id = (annotation: string): string | undefined | { error: string } => {
    const v = a[annotation];
    if (v === undefined) return undefined;
    const checked = checkId(v, maxIdLength);
    return isIdError(checked) ? { error: `annotation ${annotation} ${checked.error}` } : checked;
  };
  const tenant = id(API_KEY_ANNOTATIONS.tenant);
  if (typeof tenant === 'object') return tenant;
  const user = id(API_KEY_ANNOTATIONS.user);
  if (typeof user === 'object') return user;
  if (tenant === undefined && user === undefined)
    return { error: `needs the annotation ${API_KEY_ANNOTATIONS.tenant} or ${API_KEY_ANNOTATIONS.user} (who its keys stand for)` };
  let expiresAtMs: number | undefined;
  const expires = a[API_KEY_ANNOTATIONS.expiresAt];
  if (expires !== undefined) {
    expiresAtMs = RFC3339.test(expires) ? Date.parse(expires) : NaN;
    if (!Number.isFinite(expiresAtMs))
      return { error: `annotation ${API_KEY_ANNOTATIONS.expiresAt} must be an RFC 3339 time like 2027-01-01T00:00:00Z` };
  }
  const claims: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) {
    if (!k.startsWith(API_KEY_ANNOTATIONS.claimPrefix)) continue;
    const claim = k.slice(API_KEY_ANNOTATIONS.claimPrefix.length);
    const checked = checkId(v, maxIdLength);
    if (claim === '' || isIdError(checked)) return { error: `annotation ${k} must name a claim and hold a printable value` };
    claims[claim] = checked;
  }
  return {
    ...(tenant !== undefined ? { tenant } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(expiresAtMs !== undefined ? { expiresAtMs } : {}),
    claims,
  };
}

const describeSecret = (s: SecretModel) => `Secret ${s.meta.namespace}/${s.meta.name}`;

export function compileIdentity(settings: IdentitySettings, source: PolicyRef | undefined, sources: IdentitySources): CompiledIdentity {
  const problems: IdentityRefProblem[] = [];
  const path = sources.path ?? ((p: string) => p);
  let jwksKeys = 0;
  let secretProviders = 0;

  let jwt: IdentityIR['jwt'];
  if (settings.jwt) {
    const j = settings.jwt;
    const providers: JwtProviderIR[] = j.providers.map((p, i): JwtProviderIR => {
      const at = `spec.jwt.providers[${i}].keys`;
      const algorithms = [...new Set(p.algorithms)].sort(compareStrings) as JwtAlgorithm[];
      let keys: JwtProviderIR['keys'];
      if (p.keys.secretRef) {
        secretProviders++;
        const ref = p.keys.secretRef;
        const secret = sources.secrets?.get(ref.name);
        const entry = secret?.data.get(ref.key);
        if (!secret) {
          problems.push({
            path: `${at}.secretRef`,
            reason: 'SecretNotFound',
            message: `Secret ${source?.namespace ?? ''}/${ref.name} not found among the Secrets labelled ${IDENTITY_SECRET_LABEL}`,
          });
          keys = { type: 'Inline', keys: [] };
        } else if (!entry) {
          problems.push({ path: `${at}.secretRef`, reason: 'InvalidSecret', message: `${describeSecret(secret)} has no entry ${ref.key}` });
          keys = { type: 'Inline', keys: [] };
        } else {
          const read = readJwks(entry.toString('utf8'), algorithms);
          if (!read.ok) {
            problems.push({
              path: `${at}.secretRef`,
              reason: 'InvalidSecret',
              message: `${describeSecret(secret)} entry ${ref.key} ${read.error}`,
            });
            keys = { type: 'Inline', keys: [] };
          } else {
            jwksKeys += read.keys.length;
            keys = { type: 'Inline', keys: read.keys.map((k) => ({ ...k.jwk })) };
          }
        }
      } else if (p.keys.remote) {
        const r = p.keys.remote;
        keys = { type: 'Remote', uri: r.uri, refreshIntervalMs: durationMs(r.refreshInterval), timeoutMs: durationMs(r.timeout) };
      } else if (p.keys.jwksFile !== undefined) {
        keys = { type: 'JwksFile', path: path(p.keys.jwksFile) };
      } else {
        keys = { type: 'PemFiles', paths: (p.keys.publicKeyFiles ?? []).map(path) };
      }
      return {
        name: p.name,
        issuer: p.issuer,
        audiences: [...p.audiences],
        algorithms,
        clockToleranceMs: durationMs(p.clockTolerance),
        tenantClaim: p.tenantClaim,
        userClaim: p.userClaim,
        keys,
      };
    });
    providers.sort((a, b) => compareStrings(a.name, b.name));
    jwt = {
      providers,
      header: { name: j.header.name, scheme: j.header.scheme },
      required: j.required,
      cacheSize: j.cacheSize,
      maxTokenLength: j.maxTokenLength,
    };
  }

  let apiKeys: IdentityIR['apiKeys'];
  let secretsUsed = 0;
  if (settings.apiKeys) {
    const a = settings.apiKeys;
    const keys = new Map<string, ApiKeyIR>();
    const at = 'spec.apiKeys.secretSelector';
    let full = false;
    for (const secret of a.secretSelector ? (sources.secrets?.select(a.secretSelector.matchLabels) ?? []) : []) {
      const who = secretIdentity(secret, settings.maxIdLength);
      if ('error' in who) {
        problems.push({ path: at, reason: 'InvalidSecret', message: `${describeSecret(secret)} ${who.error}; its keys are left out` });
        continue;
      }
      secretsUsed++;
      for (const [entry, value] of [...secret.data].sort(([x], [y]) => compareStrings(x, y))) {
        const name = `${secret.meta.namespace}/${secret.meta.name}/${entry}`;
        const text = keyText(value);
        if (typeof text !== 'string') {
          problems.push({
            path: at,
            reason: 'InvalidSecret',
            message: `${describeSecret(secret)} entry ${entry}: the key ${text.error}; it is left out`,
          });
          continue;
        }
        const sha256 = createHash('sha256').update(text, 'latin1').digest('hex');
        const other = keys.get(sha256);
        if (other) {
          problems.push({
            path: at,
            reason: 'InvalidSecret',
            message: `${describeSecret(secret)} entry ${entry} holds the same key as ${other.name}; only ${other.name} counts`,
          });
          continue;
        }
        if (keys.size >= MAX_API_KEYS) {
          full = true;
          break;
        }
        keys.set(sha256, { sha256, name, ...who, claims: who.claims });
      }
      if (full) break;
    }
    if (full) problems.push({ path: at, reason: 'InvalidSecret', message: `more than ${MAX_API_KEYS} API keys; the rest are left out` });
    apiKeys = {
      header: a.header,
      keys: [...keys.values()].sort((x, y) => compareStrings(x.sha256, y.sha256)),
      files: a.file !== undefined ? [path(a.file)] : [],
    };
  }

  const ir: IdentityIR = {
    ...(source ? { source } : {}),
    ...(jwt ? { jwt } : {}),
    ...(apiKeys ? { apiKeys } : {}),
    trustedProxies: [...(settings.trustedProxies ?? [])],
    forwardedHeader: settings.forwardedHeader,
    maxForwardedHops: settings.maxForwardedHops,
    trustedHeaders: { tenant: settings.trustedHeaders.tenant, user: settings.trustedHeaders.user },
    ipv6Prefix: settings.ipv6Prefix,
    maxIdLength: settings.maxIdLength,
    reloadIntervalMs: durationMs(settings.reloadInterval),
  };
  const parts = [
    ...(secretProviders > 0
      ? [`${jwksKeys} JWKS key${jwksKeys === 1 ? '' : 's'} from ${secretProviders} Secret${secretProviders === 1 ? '' : 's'}`]
      : []),
    ...(apiKeys && settings.apiKeys?.secretSelector
      ? [`${apiKeys.keys.length} API key${apiKeys.keys.length === 1 ? '' : 's'} from ${secretsUsed} Secret${secretsUsed === 1 ? '' : 's'}`]
      : []),
  ];
  return { ir, problems, summary: parts.join(', ') };
}
