/**
 * Who is calling a gateway, as the gateway's identify stage needs it: compiled from a
 * ClientIdentityPolicy (with the keys of its Secrets, API keys as SHA-256 digests only) or from a
 * gateway's `--identity` file. Durations are milliseconds; header names are lower case; lists are
 * sorted where their order does not matter.
 */
import { Type } from '@sinclair/typebox';
import { JWT_ALGORITHMS, MAX_API_KEYS, MAX_JWKS_KEYS } from '../schema/identity.js';
import { Count, Millis, Name, PolicyRef, Positive, literals } from './common.js';

/** One public key of a JWKS document (RFC 7517). Other members are kept as they are. */
export const JwkIR = Type.Object({
  kty: Name,
  kid: Type.Optional(Type.String()),
  alg: Type.Optional(Type.String()),
  use: Type.Optional(Type.String()),
});

export const JwtKeysIR = Type.Union([
  /** Keys delivered with the config (from a Secret); empty when the Secret is missing or unusable: every token of the issuer is refused. */
  Type.Object({ type: Type.Literal('Inline'), keys: Type.Array(JwkIR, { maxItems: MAX_JWKS_KEYS }) }),
  /** A JWKS document the gateway fetches itself, again every refreshIntervalMs. */
  Type.Object({
    type: Type.Literal('Remote'),
    uri: Name,
    refreshIntervalMs: Type.Number({ minimum: 1000 }),
    timeoutMs: Type.Number({ minimum: 1 }),
  }),
  /** A JWKS file on the gateway, checked for changes every reloadIntervalMs. */
  Type.Object({ type: Type.Literal('JwksFile'), path: Name }),
  /** PEM public keys or certificates on the gateway. */
  Type.Object({ type: Type.Literal('PemFiles'), paths: Type.Array(Name, { minItems: 1 }) }),
]);

export const JwtProviderIR = Type.Object({
  /** Unique in the providers. */
  name: Name,
  /** The exact iss; unique in the providers. */
  issuer: Name,
  audiences: Type.Array(Name, { minItems: 1 }),
  /** Sorted. */
  algorithms: Type.Array(literals(JWT_ALGORITHMS), { minItems: 1 }),
  clockToleranceMs: Millis,
  tenantClaim: Name,
  userClaim: Name,
  keys: JwtKeysIR,
});

export const JwtIR = Type.Object({
  /** Sorted by name. */
  providers: Type.Array(JwtProviderIR, { minItems: 1 }),
  /** Lower-case header; scheme '' for a bare token. */
  header: Type.Object({ name: Name, scheme: Type.String() }),
  required: Type.Boolean(),
  cacheSize: Count,
  maxTokenLength: Positive,
});

export const ApiKeyIR = Type.Object({
  /** Lower-case hex SHA-256 of the key's UTF-8 bytes: the only form of a key a gateway holds. */
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  /** For logs: `<secret namespace>/<secret>/<entry>`. Never the key. */
  name: Name,
  tenant: Type.Optional(Name),
  user: Type.Optional(Name),
  /** Unix ms; the key is refused from then on. */
  expiresAtMs: Type.Optional(Type.Number()),
  claims: Type.Record(Type.String(), Type.Unknown()),
});

export const ApiKeysIR = Type.Object({
  /** Lower-case header. */
  header: Name,
  /** Sorted by sha256, unique. */
  keys: Type.Array(ApiKeyIR, { maxItems: MAX_API_KEYS }),
  /** Key-hash files on the gateway (the `--identity` file's apiKeys.file), checked for changes every reloadIntervalMs. */
  files: Type.Array(Name),
});

export const IdentityIR = Type.Object({
  /** The ClientIdentityPolicy it comes from; absent for a gateway's own `--identity` file. */
  source: Type.Optional(PolicyRef),
  jwt: Type.Optional(JwtIR),
  apiKeys: Type.Optional(ApiKeysIR),
  /** Addresses and CIDRs (IPv4, IPv6) of trusted direct peers. */
  trustedProxies: Type.Array(Name),
  forwardedHeader: literals(['x-forwarded-for', 'forwarded'] as const),
  maxForwardedHops: Type.Integer({ minimum: 1, maximum: 64 }),
  /** Lower case. */
  trustedHeaders: Type.Object({ tenant: Name, user: Name }),
  ipv6Prefix: Type.Integer({ minimum: 1, maximum: 128 }),
  maxIdLength: Type.Integer({ minimum: 1, maximum: 4096 }),
  /** How often key files are checked for changes; 0: never. */
  reloadIntervalMs: Millis,
});
