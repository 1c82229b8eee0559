/**
 * ClientIdentityPolicy through the translator: keys from labelled Secrets become public JWKs and
 * API-key digests in the Gateway's IR; what cannot be used is reported as ResolvedRefs=False and
 * left out; the IR the gateway receives holds no key itself.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { validateIR } from '../../ir/validate.js';
import { identityInvariants } from '../../ir/identity-invariants.js';
import type { IdentityIR } from '../../ir/types.js';
import { CONTROLLER_NAME } from '../constants.js';
import { translate } from '../translate.js';

const NS = 'team';
const platform = [
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name: 'jarvis' },
    spec: { controllerName: CONTROLLER_NAME },
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'gw', namespace: NS },
    spec: { gatewayClassName: 'jarvis', listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
  },
];

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const publicJwk = { ...ec.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'ES256' };
const privateJwk = { ...ec.privateKey.export({ format: 'jwk' }), kid: 'k1' };
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function secret(
  name: string,
  data: Record<string, string>,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: NS,
      labels: extra.labels ?? { 'stability.jarvis.io/identity': 'x' },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

function policy(name: string, spec: Record<string, unknown>, created = '2026-01-01T00:00:00Z') {
  return {
    apiVersion: 'stability.jarvis.io/v1alpha1',
    kind: 'ClientIdentityPolicy',
    metadata: { name, namespace: NS, generation: 3, creationTimestamp: created },
    spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], ...spec },
  };
}

const jwtSpec = (secretName = 'jwks', key?: string) => ({
  jwt: {
    providers: [
      { name: 'idp', issuer: 'https://idp.test/', audiences: ['api'], keys: { secretRef: { name: secretName, ...(key ? { key } : {}) } } },
    ],
  },
});
const apiKeySpec = { apiKeys: { secretSelector: { matchLabels: { 'stability.jarvis.io/identity': 'api-keys' } } } };
const apiKeyLabels = { 'stability.jarvis.io/identity': 'api-keys' };

function run(objects: unknown[]) {
  const result = translate({ objects: [...platform, ...objects] }, { controllerName: CONTROLLER_NAME });
  const checked = validateIR(JSON.parse(JSON.stringify(result.ir)));
  expect(checked.ok ? [] : checked.errors).toEqual([]);
  const gateway = result.ir.gateways.find((g) => g.id === `${NS}/gw`);
  return { result, gateway, identity: gateway?.identity, status: (name: string) => result.policies.find((p) => p.ref.name === name) };
}

describe('ClientIdentityPolicy → IdentityIR', () => {
  it('puts the public keys of a labelled Secret into the Gateway config, with the policy among its policies', () => {
    const { identity, gateway, status } = run([
      secret('jwks', { 'jwks.json': JSON.stringify({ keys: [publicJwk] }) }),
      policy('id', jwtSpec()),
    ]);
    expect(identity?.source).toEqual({ kind: 'ClientIdentityPolicy', namespace: NS, name: 'id', generation: 3 });
    expect(identity?.jwt?.providers[0]).toMatchObject({
      name: 'idp',
      issuer: 'https://idp.test/',
      algorithms: ['ES256', 'EdDSA', 'RS256'],
      clockToleranceMs: 30_000,
      keys: { type: 'Inline', keys: [publicJwk] },
    });
    expect(identity?.jwt?.header).toEqual({ name: 'authorization', scheme: 'Bearer' });
    expect(gateway?.policies).toContainEqual({ kind: 'ClientIdentityPolicy', namespace: NS, name: 'id', generation: 3 });
    expect(status('id')).toMatchObject({
      accepted: { status: true },
      resolvedRefs: { status: true, reason: 'ResolvedRefs', message: 'Resolved: 1 JWKS key from 1 Secret.' },
      features: ['stability.jarvis.io/ClientIdentityPolicy', 'stability.jarvis.io/ClientIdentityPolicy.jwt'],
      targets: [{ kind: 'Gateway', namespace: NS, name: 'gw' }],
    });
  });

  it('refuses every token of an issuer whose Secret is missing, unlabelled or unusable, and says why', () => {
    const cases: [unknown[], string, RegExp][] = [
      [[], 'SecretNotFound', /Secret team\/jwks not found among the Secrets labelled stability.jarvis.io\/identity/],
      [[secret('jwks', { 'jwks.json': JSON.stringify({ keys: [publicJwk] }) }, { labels: {} })], 'SecretNotFound', /not found/],
      [[secret('jwks', { other: '{}' })], 'InvalidSecret', /has no entry jwks\.json/],
      [[secret('jwks', { 'jwks.json': 'not json' })], 'InvalidSecret', /not JSON/],
      [[secret('jwks', { 'jwks.json': JSON.stringify({ keys: [privateJwk] }) })], 'InvalidSecret', /private or symmetric key material/],
      [[secret('jwks', { 'jwks.json': JSON.stringify({ keys: [{ ...publicJwk, alg: 'ES384' }] }) })], 'InvalidSecret', /no signing key/],
    ];
    for (const [objects, reason, message] of cases) {
      const { identity, status } = run([...objects, policy('id', jwtSpec())]);
      expect(identity?.jwt?.providers[0]?.keys, reason).toEqual({ type: 'Inline', keys: [] });
      const refs = status('id')?.resolvedRefs;
      expect(refs).toMatchObject({ status: false, reason });
      expect(refs?.message).toMatch(/^spec\.jwt\.providers\[0\]\.keys\.secretRef: /);
      expect(refs?.message).toMatch(message);
      expect(status('id')?.accepted.status).toBe(true);
    }
  });

  it('sends API keys only as SHA-256 digests, with who they stand for from the annotations', () => {
    const keys = { 'bot-1': 'key-one-0123456789', 'bot-2': 'key-two-0123456789\n' };
    const { result, identity, status } = run([
      secret('acme', keys, {
        labels: apiKeyLabels,
        annotations: {
          'stability.jarvis.io/tenant': 'acme',
          'stability.jarvis.io/expires-at': '2027-01-01T00:00:00Z',
          'claim.stability.jarvis.io/plan': 'gold',
        },
      }),
      secret('other-label', { x: 'key-elsewhere-000' }, { labels: { 'stability.jarvis.io/identity': 'jwks' } }),
      policy('id', apiKeySpec),
    ]);
    expect(identity?.apiKeys).toEqual({
      header: 'x-api-key',
      files: [],
      keys: [
        {
          sha256: sha('key-one-0123456789'),
          name: 'team/acme/bot-1',
          tenant: 'acme',
          expiresAtMs: Date.parse('2027-01-01T00:00:00Z'),
          claims: { plan: 'gold' },
        },
        {
          sha256: sha('key-two-0123456789'),
          name: 'team/acme/bot-2',
          tenant: 'acme',
          expiresAtMs: Date.parse('2027-01-01T00:00:00Z'),
          claims: { plan: 'gold' },
        },
      ].sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1)),
    });
    const json = JSON.stringify(result);
    for (const k of ['key-one-0123456789', 'key-two-0123456789', 'key-elsewhere-000']) expect(json).not.toContain(k);
    expect(status('id')?.resolvedRefs).toEqual({ status: true, reason: 'ResolvedRefs', message: 'Resolved: 2 API keys from 1 Secret.' });
  });

  it('leaves out what cannot be used, keeps the rest, and names each problem', () => {
    const { identity, status } = run([
      secret(
        'a',
        { good: 'key-good-000000000', spaced: 'key with space', empty: '' },
        { labels: apiKeyLabels, annotations: { 'stability.jarvis.io/user': 'u1' } },
      ),
      secret('b', { again: 'key-good-000000000' }, { labels: apiKeyLabels, annotations: { 'stability.jarvis.io/user': 'u2' } }),
      secret('c', { lost: 'key-lost-000000000' }, { labels: apiKeyLabels }),
      secret(
        'd',
        { late: 'key-late-000000000' },
        { labels: apiKeyLabels, annotations: { 'stability.jarvis.io/user': 'u4', 'stability.jarvis.io/expires-at': 'soon' } },
      ),
      policy('id', apiKeySpec),
    ]);
    expect(identity?.apiKeys?.keys).toEqual([{ sha256: sha('key-good-000000000'), name: 'team/a/good', user: 'u1', claims: {} }]);
    const refs = status('id')?.resolvedRefs;
    expect(refs).toMatchObject({ status: false, reason: 'InvalidSecret' });
    expect(refs?.message).toContain('Secret team/a entry spaced: the key may hold only visible ASCII characters');
    expect(refs?.message).toContain('Secret team/a entry empty: the key is empty');
    expect(refs?.message).toContain('Secret team/b entry again holds the same key as team/a/good; only team/a/good counts');
    expect(refs?.message).toContain('Secret team/c needs the annotation stability.jarvis.io/tenant or stability.jarvis.io/user');
    expect(refs?.message).toContain('Secret team/d annotation stability.jarvis.io/expires-at must be an RFC 3339 time');
    expect(refs?.message).toContain('(in use: 1 API key from 2 Secrets)');
  });

  it('gives each Gateway one identity: of two policies the older wins, the other is Conflicted', () => {
    const spec = { trustedProxies: ['10.0.0.0/8'] };
    const { identity, status } = run([
      policy('newer', { trustedProxies: ['192.0.2.0/24'] }, '2026-02-01T00:00:00Z'),
      policy('older', spec),
    ]);
    expect(identity?.source?.name).toBe('older');
    expect(identity?.trustedProxies).toEqual(['10.0.0.0/8']);
    expect(status('newer')?.accepted).toMatchObject({ status: false, reason: 'Conflicted' });
  });

  it('is Invalid when a trusted proxy is no address or a JWKS URL carries credentials', () => {
    const { identity, status } = run([
      policy('id', {
        trustedProxies: ['10.0.0.0/33'],
        jwt: { providers: [{ name: 'r', issuer: 'i', audiences: ['a'], keys: { remote: { uri: 'https://u:p@idp.test/jwks' } } }] },
      }),
    ]);
    expect(identity).toBeUndefined();
    expect(status('id')?.accepted).toMatchObject({ status: false, reason: 'Invalid' });
    expect(status('id')?.findings).toEqual([
      { path: 'spec.trustedProxies[0]', message: '10.0.0.0/33 is not an IPv4 or IPv6 address or CIDR (like 10.0.0.0/8 or fd00::/8)' },
      { path: 'spec.jwt.providers[0].keys.remote.uri', message: 'must not carry credentials' },
    ]);
  });

  it('compiles a remote JWKS with its refresh bounds', () => {
    const { identity } = run([
      policy('id', {
        jwt: {
          providers: [
            { name: 'r', issuer: 'i', audiences: ['a'], keys: { remote: { uri: 'https://idp.test/jwks', refreshInterval: '1m' } } },
          ],
        },
      }),
    ]);
    expect(identity?.jwt?.providers[0]?.keys).toEqual({
      type: 'Remote',
      uri: 'https://idp.test/jwks',
      refreshIntervalMs: 60_000,
      timeoutMs: 5000,
    });
  });
});

describe('IdentityIR invariants', () => {
  const base: IdentityIR = {
    trustedProxies: ['10.0.0.0/8', '::1'],
    forwardedHeader: 'x-forwarded-for',
    maxForwardedHops: 16,
    trustedHeaders: { tenant: 'x-tenant-id', user: 'x-user-id' },
    ipv6Prefix: 64,
    maxIdLength: 256,
    reloadIntervalMs: 0,
  };
  it('hold for a valid config and name every broken one', () => {
    expect(identityInvariants(base, 'id')).toEqual([]);
    const bad: IdentityIR = {
      ...base,
      trustedProxies: ['10.0.0.0/40'],
      trustedHeaders: { tenant: 'x-id', user: 'x-id' },
      jwt: {
        providers: [
          {
            name: 'b',
            issuer: 'same',
            audiences: ['a'],
            algorithms: ['ES256'],
            clockToleranceMs: 0,
            tenantClaim: 't',
            userClaim: 's',
            keys: { type: 'Inline', keys: [{ kty: 'oct', k: 'c2VjcmV0' } as never] },
          },
          {
            name: 'a',
            issuer: 'same',
            audiences: ['a'],
            algorithms: ['ES256'],
            clockToleranceMs: 0,
            tenantClaim: 't',
            userClaim: 's',
            keys: { type: 'Remote', uri: 'ftp://x', refreshIntervalMs: 1000, timeoutMs: 2000 },
          },
        ],
        header: { name: 'Authorization', scheme: 'Bearer' },
        required: false,
        cacheSize: 0,
        maxTokenLength: 8192,
      },
      apiKeys: {
        header: 'x-key',
        files: [],
        keys: [
          { sha256: 'b'.repeat(64), name: 'n', claims: {} },
          { sha256: 'a'.repeat(64), name: 'n', claims: {} },
        ],
      },
    };
    expect(identityInvariants(bad, 'id')).toEqual([
      'id.trustedProxies[0]: "10.0.0.0/40" is not an IPv4 or IPv6 address or CIDR',
      'id.trustedHeaders.user: names the same header as trustedHeaders.tenant (x-id)',
      'id.jwt.header.name: "Authorization" is not a lower-case header name',
      'id.jwt.providers[0].keys.keys[0]: holds private or symmetric key material (k)',
      'id.jwt.providers[1].issuer: another provider has issuer same',
      'id.jwt.providers[1]: providers must be sorted by name',
      'id.jwt.providers[1].keys.uri: must be an http or https URL without credentials',
      'id.jwt.providers[1].keys.timeoutMs: must be shorter than refreshIntervalMs',
      'id.apiKeys.keys[1]: must be sorted by sha256 and unique',
    ]);
  });
});
