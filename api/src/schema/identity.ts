/**
 * Who is calling a Gateway: JWT issuers, API keys, trusted proxies and how client addresses are
 * counted. One schema for two places: the spec of a ClientIdentityPolicy (the cluster: keys come
 * from Secrets the operator reads) and the gateway's `--identity` file (standalone: keys come from
 * files). Both are read by the same validation (structure, defaults, CEL); the few sources that
 * only make sense in one place are refused in the other by a rule, with a message that says why.
 */
import type { TProperties } from '@sinclair/typebox';
import {
  DNS_SUBDOMAIN_PATTERN,
  bool,
  duration,
  int,
  isDuration,
  list,
  obj,
  oneOf,
  optional,
  str,
  stringMap,
  type CelRule,
  type Static,
} from './builders.js';
import { Condition, GATEWAY_API_GROUP, MAX_TARGET_REFS, labelName } from './common.js';

/** Signature algorithms a gateway verifies. Symmetric (HS*) and `none` are refused on purpose. */
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

/** Label a Secret needs before the operator reads it (it lists and watches Secrets with this label only). */
export const IDENTITY_SECRET_LABEL = 'stability.jarvis.io/identity';
/** Annotations of an API-key Secret: the identity every key of the Secret stands for. */
export const API_KEY_ANNOTATIONS = {
  tenant: 'stability.jarvis.io/tenant',
  user: 'stability.jarvis.io/user',
  expiresAt: 'stability.jarvis.io/expires-at',
  /** `claim.stability.jarvis.io/<claim>: <value>`: a claim of every key of the Secret. */
  claimPrefix: 'claim.stability.jarvis.io/',
} as const;
/** Most API keys one policy (or file) may hold, and the longest key. */
export const MAX_API_KEYS = 10_000;
export const MAX_API_KEY_LENGTH = 512;
/** Most bytes of a JWKS document (a Secret's entry, or fetched from a URL). */
export const MAX_JWKS_BYTES = 1024 * 1024;
/** Most keys of one JWKS document. */
export const MAX_JWKS_KEYS = 64;

/** A lower-case HTTP header name: identity headers are compared by name, so they are written one way. */
const LOWER_HEADER_PATTERN = "^[a-z0-9!#$%&'*+\\-.^_`|~]+$";
const lowerHeader = (description: string, fallback: string) =>
  str(`${description} Lower case.`, { minLength: 1, maxLength: 256, pattern: LOWER_HEADER_PATTERN, default: fallback });

/** An IPv4 or IPv6 address or CIDR, in characters; whether it parses is checked when it is read. */
const CIDR_PATTERN = '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$';

const claimName = (description: string, fallback: string) =>
  str(`${description} A top-level claim, named exactly (dots and slashes are part of the name, as in https://example.com/org).`, {
    minLength: 1,
    maxLength: 256,
    pattern: '^[!-~]+$',
    default: fallback,
  });

const filePath = (description: string) =>
  str(
    `${description} Only in the gateway's --identity file (a relative path is read from that file's folder); a ClientIdentityPolicy refuses it.`,
    { minLength: 1, maxLength: 4096 },
  );

export const JwksSecretRef = obj(
  `A JWKS document (JSON, public keys only) in a Secret of the policy's namespace, read by the operator, which sends the keys to the gateways: an edit of the Secret is in force on every gateway within seconds. The Secret must carry the label ${IDENTITY_SECRET_LABEL} (the operator reads no other Secret). Only in a ClientIdentityPolicy.`,
  {
    name: str('Name of the Secret.', { minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN }),
    key: str('Entry of the Secret that holds the JWKS document.', {
      minLength: 1,
      maxLength: 253,
      pattern: '^[-._a-zA-Z0-9]+$',
      default: 'jwks.json',
    }),
  },
);

export const RemoteJwks = obj(
  `A JWKS document every gateway fetches itself (GET, at most ${MAX_JWKS_BYTES / 1024 / 1024} MiB, no redirects) and keeps: fetched when the config arrives, then again every refreshInterval, and at most once per refreshInterval/10 (and at least 1 s apart) sooner when a token names a key id it does not know. A failed fetch keeps the last keys; until a first fetch succeeds, tokens of this issuer are answered 503.`,
  {
    uri: str('URL of the JWKS document (http or https).', { minLength: 8, maxLength: 2048, pattern: '^https?://[^\\s]+$' }),
    refreshInterval: duration('How often the document is fetched again.', { min: '1s', max: '24h', default: '5m' }),
    timeout: duration('Longest a fetch may take; shorter than refreshInterval.', { min: '100ms', max: '30s', default: '5s' }),
  },
  {
    rules: [
      {
        rule: `!${isDuration('self.timeout')} || !${isDuration('self.refreshInterval')} || duration(self.timeout) < duration(self.refreshInterval)`,
        message: 'timeout must be shorter than refreshInterval',
        fieldPath: '.timeout',
      },
    ],
  },
);

export const JwtKeys = obj(
  'Where the keys that verify the tokens come from: exactly one of secretRef, remote, jwksFile and publicKeyFiles. Private and symmetric key material is refused.',
  {
    secretRef: optional(JwksSecretRef),
    remote: optional(RemoteJwks),
    jwksFile: optional(filePath('A JWKS file, checked for changes every reloadInterval.')),
    publicKeyFiles: optional(
      list(
        'PEM public keys or X.509 certificates, checked for changes every reloadInterval.',
        filePath('A PEM file (SPKI public key or certificate).'),
        { minItems: 1, maxItems: 16, listType: 'atomic' },
      ),
    ),
  },
  {
    rules: [
      {
        rule: '[has(self.secretRef), has(self.remote), has(self.jwksFile), has(self.publicKeyFiles)].filter(x, x).size() == 1',
        message: 'exactly one of secretRef, remote, jwksFile and publicKeyFiles must be set',
      },
    ],
  },
);

export const JwtProvider = obj(
  "An issuer of tokens the gateway accepts. A token's iss picks the provider; its signature, aud, exp and nbf are then checked with the provider's keys and settings.",
  {
    name: labelName('Name of the provider, unique in the list; named in problem details and logs.'),
    issuer: str('The exact iss of its tokens.', { minLength: 1, maxLength: 2048 }),
    audiences: list(
      'A token is accepted when its aud contains at least one of these.',
      str('An audience.', { minLength: 1, maxLength: 2048 }),
      {
        minItems: 1,
        maxItems: 16,
        listType: 'set',
      },
    ),
    keys: JwtKeys,
    algorithms: list(
      'Accepted alg values; a token with any other is refused before a key is looked at. HS* and none cannot be configured: anyone holding a shared secret could forge tokens.',
      oneOf('A signature algorithm.', JWT_ALGORITHMS),
      { minItems: 1, maxItems: JWT_ALGORITHMS.length, listType: 'set', default: ['RS256', 'ES256', 'EdDSA'] },
    ),
    clockTolerance: duration('Leeway for exp and nbf.', { min: '0s', max: '10m', default: '30s' }),
    tenantClaim: claimName('Claim that holds the tenant.', 'tenant'),
    userClaim: claimName('Claim that holds the user.', 'sub'),
  },
);

export const JwtSettings = obj(
  'Verified JWTs: a request that sends a token gets the tenant and user of its claims, or 401 when the token does not verify (it never falls back to anything else).',
  {
    providers: list('The issuers accepted.', JwtProvider, {
      minItems: 1,
      maxItems: 8,
      listType: 'map',
      mapKeys: ['name'],
      rules: [
        {
          rule: 'self.all(a, self.exists_one(b, b.issuer == a.issuer))',
          message: 'each issuer may be named by one provider only',
        },
      ],
    }),
    header: obj(
      'Where tokens are sent.',
      {
        name: lowerHeader('Request header of the token.', 'authorization'),
        scheme: str('Auth scheme before the token (Bearer); the empty string reads a bare token.', {
          maxLength: 64,
          pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]*$",
          default: 'Bearer',
        }),
      },
      { defaulted: true },
    ),
    required: bool(
      'Refuse with 401 a request that brings no credentials: no token, no API key, and no identity headers from a trusted proxy.',
      { default: false },
    ),
    cacheSize: int(
      'Verified tokens remembered (by their SHA-256, all providers together) until they expire or their keys change; 0 turns the cache off.',
      {
        minimum: 0,
        maximum: 1_000_000,
        default: 1024,
      },
    ),
    maxTokenLength: int('Longer tokens are refused before any parsing.', { minimum: 256, maximum: 65_536, default: 8192 }),
  },
);

export const ApiKeySettings = obj(
  `API keys: a request that sends one is identified by the tenant and user the key stands for, or refused with 401 when the key is unknown or expired. Gateways only ever hold the SHA-256 of each key. Exactly one of secretSelector and file.`,
  {
    header: lowerHeader('Request header of the key.', 'x-api-key'),
    secretSelector: optional(
      obj(
        `The Secrets of the policy's namespace that hold the keys; each Secret must also carry the label ${IDENTITY_SECRET_LABEL} (the operator reads no other Secret). Every entry of such a Secret is one key (its value; one trailing newline is ignored; at most ${MAX_API_KEY_LENGTH} visible ASCII characters); the Secret's annotations ${API_KEY_ANNOTATIONS.tenant} and ${API_KEY_ANNOTATIONS.user} (at least one), ${API_KEY_ANNOTATIONS.expiresAt} (RFC 3339, optional) and ${API_KEY_ANNOTATIONS.claimPrefix}<claim> say who its keys stand for. The operator sends only the SHA-256 of each key, with that metadata, to the gateways; a key added to or removed from a Secret is in force on every gateway within seconds. At most ${MAX_API_KEYS} keys. Only in a ClientIdentityPolicy.`,
        {
          matchLabels: stringMap('Labels a Secret must carry, all of them.', { maxProperties: 16, valueMaxLength: 63 }),
        },
        {
          rules: [{ rule: 'size(self.matchLabels) > 0', message: 'matchLabels must name at least one label', fieldPath: '.matchLabels' }],
        },
      ),
    ),
    file: optional(
      filePath(
        'A YAML or JSON file of key hashes (keys: [{sha256, tenant, user, name, expiresAt, claims}]), checked for changes every reloadInterval.',
      ),
    ),
  },
  {
    rules: [
      {
        rule: '[has(self.secretSelector), has(self.file)].filter(x, x).size() == 1',
        message: 'exactly one of secretSelector and file must be set',
      },
    ],
  },
);

export const TrustedHeaders = obj(
  'Identity headers a trusted proxy may set; believed only when the direct peer is a trusted proxy, and never passed on from anyone else.',
  {
    tenant: lowerHeader('Header naming the tenant.', 'x-tenant-id'),
    user: lowerHeader('Header naming the user.', 'x-user-id'),
  },
  { defaulted: true },
);

/** The settings shared by the policy and the file, as properties (the spec adds targetRefs). */
const settingsProperties = {
  jwt: optional(JwtSettings),
  apiKeys: optional(ApiKeySettings),
  trustedProxies: optional(
    list(
      'Direct peers (IPv4 and IPv6 addresses or CIDRs, e.g. the ingress pods, or 127.0.0.1/32 behind a sidecar) whose forwarding and identity headers are believed. Without any, the client is always the direct peer.',
      str('An address or CIDR, e.g. 10.0.0.0/8 or fd00::/8.', { minLength: 2, maxLength: 43, pattern: CIDR_PATTERN }),
      { maxItems: 64, listType: 'set' },
    ),
  ),
  forwardedHeader: oneOf(
    'The one header the trusted proxies maintain: x-forwarded-for, or forwarded (RFC 7239). The client is the first untrusted hop from the right.',
    ['x-forwarded-for', 'forwarded'] as const,
    { default: 'x-forwarded-for' },
  ),
  maxForwardedHops: int('Entries of the forwarding header read at most, from the right.', { minimum: 1, maximum: 64, default: 16 }),
  trustedHeaders: TrustedHeaders,
  ipv6Prefix: int('Clients over IPv6 are counted (rate limits per client IP, hot keys) by this prefix length.', {
    minimum: 1,
    maximum: 128,
    default: 64,
  }),
  maxIdLength: int('Longest tenant or user value accepted from a token, a key or a header, in UTF-16 code units after NFC.', {
    minimum: 1,
    maximum: 4096,
    default: 256,
  }),
  reloadInterval: duration('How often key files (jwksFile, publicKeyFiles, apiKeys.file) are checked for changes; 0s never.', {
    min: '0s',
    max: '24h',
    default: '10s',
  }),
} satisfies TProperties;

const TRUSTED_AND_FORWARDED = '[self.trustedHeaders.tenant, self.trustedHeaders.user, self.forwardedHeader]';

/** Rules of the shared settings (the spec repeats them: it is the same object with targetRefs added). */
const settingsRules: CelRule[] = [
  {
    rule: `self.trustedHeaders.tenant != self.trustedHeaders.user && ![self.trustedHeaders.tenant, self.trustedHeaders.user].exists(h, h == self.forwardedHeader)`,
    message: 'trustedHeaders.tenant, trustedHeaders.user and forwardedHeader must name different headers',
    fieldPath: '.trustedHeaders',
  },
  {
    rule: `!has(self.jwt) || !${TRUSTED_AND_FORWARDED}.exists(h, h == self.jwt.header.name)`,
    message: 'jwt.header.name must differ from trustedHeaders.tenant, trustedHeaders.user and forwardedHeader',
    fieldPath: '.jwt.header.name',
  },
  {
    rule: `!has(self.apiKeys) || (!${TRUSTED_AND_FORWARDED}.exists(h, h == self.apiKeys.header) && (!has(self.jwt) || self.jwt.header.name != self.apiKeys.header))`,
    message: 'apiKeys.header must differ from jwt.header.name, trustedHeaders.tenant, trustedHeaders.user and forwardedHeader',
    fieldPath: '.apiKeys.header',
  },
];

/** The `--identity` file of a standalone gateway: the same settings, without targetRefs. */
export const IdentitySettings = obj(
  'Identity settings of a gateway (its --identity file): the spec of a ClientIdentityPolicy without targetRefs, with keys from files instead of Secrets.',
  settingsProperties,
  { rules: settingsRules },
);
export type IdentitySettings = Static<typeof IdentitySettings>;

export const IdentityTargetRef = obj('A Gateway this policy applies to, in the namespace of the policy.', {
  group: oneOf(`API group of the target: ${GATEWAY_API_GROUP}.`, [GATEWAY_API_GROUP] as const),
  kind: oneOf('Kind of the target: Gateway. Identity is settled before routing, for every listener of the Gateway.', ['Gateway'] as const),
  name: str('Name of the Gateway.', { minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN }),
});

export const ClientIdentityPolicySpec = obj(
  "Who is calling the targeted Gateways. The gateways of a Gateway with such a policy identify every request with it (a gateway's --identity file applies only to a Gateway without one).",
  {
    targetRefs: list(`The Gateways this policy applies to: from 1 to ${MAX_TARGET_REFS}, in the policy's namespace.`, IdentityTargetRef, {
      minItems: 1,
      maxItems: MAX_TARGET_REFS,
      listType: 'atomic',
      rules: [
        {
          rule: 'self.all(a, self.exists_one(b, a.name == b.name))',
          message: 'targetRefs must not name the same Gateway twice',
        },
      ],
    }),
    ...settingsProperties,
  },
  {
    rules: [
      ...settingsRules,
      {
        rule: '!has(self.jwt) || self.jwt.providers.all(p, !has(p.keys.jwksFile) && !has(p.keys.publicKeyFiles))',
        message:
          "jwksFile and publicKeyFiles are for a gateway's --identity file: a ClientIdentityPolicy takes keys from a Secret (secretRef) or a URL (remote)",
        fieldPath: '.jwt.providers',
      },
      {
        rule: '!has(self.apiKeys) || !has(self.apiKeys.file)',
        message: "apiKeys.file is for a gateway's --identity file: a ClientIdentityPolicy reads API keys from Secrets (secretSelector)",
        fieldPath: '.apiKeys.file',
      },
    ],
  },
);
export type ClientIdentityPolicySpec = Static<typeof ClientIdentityPolicySpec>;

/** The status of a ClientIdentityPolicy: Accepted and Enforced like every kind, and ResolvedRefs for its Secrets. */
export const IdentityPolicyStatus = obj('Observed state of the policy, written by the operator.', {
  observedGeneration: optional(int('The .metadata.generation the operator last acted on.', { minimum: 0, format: 'int64' })),
  conditions: optional(
    list(
      'Accepted: the operator validated the policy and resolved its targets. Enforced: True once every gateway of the targeted Gateways has acknowledged a configuration that contains this generation and announces that it enforces this kind (otherwise Pending, NotEnforced or Unsupported). ResolvedRefs: True when every Secret the policy names exists, carries the identity label and holds usable keys; False (SecretNotFound, InvalidSecret) names what is wrong — the keys of such a Secret are left out, so tokens and API keys they would verify are refused.',
      obj('One aspect of the current state of the policy.', {
        ...Condition.properties,
        type: str('Type of the condition: Accepted, Enforced or ResolvedRefs.', {
          minLength: 1,
          maxLength: 316,
          pattern: Condition.properties.type.pattern ?? '',
        }),
        reason: str(
          'Machine-readable reason in CamelCase. Accepted: Accepted, Invalid, TargetNotFound or Conflicted. Enforced: Enforced, Pending, NotEnforced or Unsupported. ResolvedRefs: ResolvedRefs, SecretNotFound or InvalidSecret.',
          { minLength: 1, maxLength: 1024, pattern: Condition.properties.reason.pattern ?? '' },
        ),
      }),
      { maxItems: 8, listType: 'map', mapKeys: ['type'] },
    ),
  ),
});
