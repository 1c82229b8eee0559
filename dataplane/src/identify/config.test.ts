/**
 * The --identity file: the ClientIdentityPolicy spec's schema (without targetRefs), read with the
 * same defaults, structural checks and CEL rules as the CR, and compiled by the translator's code.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IdentityConfigError, anonymousIdentity, loadIdentityFile, parseIdentitySettings } from './config.js';

const provider = { name: 'idp', issuer: 'https://issuer.test/', audiences: ['jarvis'], keys: { jwksFile: 'jwks.json' } };
const jwt = (extra: Record<string, unknown> = {}, p: Record<string, unknown> = {}) => ({ providers: [{ ...provider, ...p }], ...extra });

function refusal(raw: unknown): IdentityConfigError {
  try {
    parseIdentitySettings(raw, { baseDir: '/cfg' });
  } catch (err) {
    if (err instanceof IdentityConfigError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('identity file', () => {
  it('defaults to anonymous', () => {
    expect(parseIdentitySettings({})).toEqual(anonymousIdentity);
    expect(anonymousIdentity).toEqual({
      trustedProxies: [],
      forwardedHeader: 'x-forwarded-for',
      maxForwardedHops: 16,
      trustedHeaders: { tenant: 'x-tenant-id', user: 'x-user-id' },
      ipv6Prefix: 64,
      maxIdLength: 256,
      reloadIntervalMs: 10_000,
    });
  });

  it('fills JWT and API key defaults and resolves relative files against the file folder', () => {
    const c = parseIdentitySettings({ jwt: jwt(), apiKeys: { file: 'keys.yaml' } }, { baseDir: '/cfg' });
    expect(c.jwt).toEqual({
      providers: [
        {
          name: 'idp',
          issuer: 'https://issuer.test/',
          audiences: ['jarvis'],
          keys: { type: 'JwksFile', path: '/cfg/jwks.json' },
          algorithms: ['ES256', 'EdDSA', 'RS256'],
          clockToleranceMs: 30_000,
          tenantClaim: 'tenant',
          userClaim: 'sub',
        },
      ],
      header: { name: 'authorization', scheme: 'Bearer' },
      required: false,
      cacheSize: 1024,
      maxTokenLength: 8192,
    });
    expect(c.apiKeys).toEqual({ header: 'x-api-key', keys: [], files: ['/cfg/keys.yaml'] });
    const pem = parseIdentitySettings(
      { jwt: jwt({ header: { name: 'x-token', scheme: '' } }, { keys: { publicKeyFiles: ['/abs/a.pem', 'b.pem'] } }) },
      { baseDir: '/cfg' },
    );
    expect(pem.jwt?.providers[0]?.keys).toEqual({ type: 'PemFiles', paths: ['/abs/a.pem', '/cfg/b.pem'] });
    expect(pem.jwt?.header).toEqual({ name: 'x-token', scheme: '' });
    const remote = parseIdentitySettings({ jwt: jwt({}, { keys: { remote: { uri: 'https://idp.test/jwks' } } }) });
    expect(remote.jwt?.providers[0]?.keys).toEqual({
      type: 'Remote',
      uri: 'https://idp.test/jwks',
      refreshIntervalMs: 300_000,
      timeoutMs: 5000,
    });
  });

  it('loads the example file', async () => {
    const c = await loadIdentityFile(new URL('./example-identity.yaml', import.meta.url).pathname);
    expect(c.jwt?.providers.map((p) => [p.issuer, p.keys.type])).toEqual([
      ['https://auth.jarvis.example.com/', 'JwksFile'],
      ['https://login.partner.example.net/', 'Remote'],
    ]);
    expect(c.apiKeys).toEqual({ header: 'x-api-key', keys: [], files: ['/etc/jarvis/apikeys/keys.yaml'] });
    expect(c.trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8']);
    expect(c.trustedHeaders).toEqual({ tenant: 'x-tenant-id', user: 'x-user-id' });
  });

  it('names the field it refuses, with the apiserver words for what the schema checks', () => {
    const cases: [unknown, string, RegExp][] = [
      [[], '', /must be of type object/],
      [{ trustedProxy: [] }, 'trustedProxy', /unknown field "trustedProxy"/],
      [{ trustedProxies: ['10.0.0.0/8', '10.0.0.0/33'] }, 'trustedProxies[1]', /not an IPv4 or IPv6 address or CIDR/],
      [{ trustedProxies: '10.0.0.0/8' }, 'trustedProxies', /must be of type array/],
      [{ ipv6Prefix: 129 }, 'ipv6Prefix', /should be less than or equal to 128/],
      [{ ipv6Prefix: '64' }, 'ipv6Prefix', /must be of type integer/],
      [{ forwardedHeader: 'x-real-ip' }, 'forwardedHeader', /supported values: "x-forwarded-for", "forwarded"/],
      [{ trustedHeaders: { tenant: 'x tenant' } }, 'trustedHeaders.tenant', /should match/],
      [{ jwt: jwt({}, { audiences: [] }) }, 'jwt.providers[0].audiences', /should have at least 1 items/],
      [{ jwt: jwt({}, { issuer: undefined }) }, 'jwt.providers[0].issuer', /Required value/],
      [
        { jwt: jwt({}, { keys: { jwksFile: 'a', publicKeyFiles: ['b'] } }) },
        'jwt.providers[0].keys',
        /exactly one of secretRef, remote, jwksFile and publicKeyFiles/,
      ],
      [{ jwt: jwt({}, { keys: {} }) }, 'jwt.providers[0].keys', /exactly one/],
      [{ jwt: jwt({}, { keys: { secretRef: { name: 'jwks' } } }) }, 'jwt.providers[0].keys.secretRef', /only be read by the operator/],
      [{ jwt: jwt({}, { algorithms: ['RS256', 'none'] }) }, 'jwt.providers[0].algorithms[1]', /Unsupported value: "none"/],
      [{ jwt: jwt({}, { algorithms: ['HS256'] }) }, 'jwt.providers[0].algorithms[0]', /Unsupported value: "HS256"/],
      [{ jwt: jwt({}, { clockTolerance: '11m' }) }, 'jwt.providers[0].clockTolerance', /at most 10m/],
      [{ jwt: jwt({ required: 'yes' }) }, 'jwt.required', /must be of type boolean/],
      [{ jwt: jwt({ header: { scheme: 'Bear er' } }) }, 'jwt.header.scheme', /should match/],
      [{ jwt: { ...jwt(), secret: 'x' } }, 'jwt.secret', /unknown field/],
      [
        { jwt: { providers: [provider, { ...provider, name: 'other' }] } },
        'jwt.providers',
        /each issuer may be named by one provider only/,
      ],
      [{ jwt: jwt({}, { keys: { remote: { uri: 'https://u:p@x.test/jwks' } } }) }, 'jwt.providers[0].keys.remote.uri', /credentials/],
      [
        { jwt: jwt({}, { keys: { remote: { uri: 'https://x.test/jwks', refreshInterval: '2s', timeout: '5s' } } }) },
        'jwt.providers[0].keys.remote.timeout',
        /shorter than refreshInterval/,
      ],
      [{ apiKeys: { header: 'x-api-key' } }, 'apiKeys', /exactly one of secretSelector and file/],
      [{ apiKeys: { secretSelector: { matchLabels: { a: 'b' } } } }, 'apiKeys.secretSelector', /only be read by the operator/],
      [{ apiKeys: { file: 'k', header: 'x-tenant-id' } }, 'apiKeys.header', /apiKeys.header must differ from/],
      [{ trustedHeaders: { tenant: 'x-id', user: 'x-id' } }, 'trustedHeaders', /must name different headers/],
    ];
    for (const [raw, field, reason] of cases) {
      const err = refusal(raw);
      expect(err.field, JSON.stringify(raw)).toBe(field);
      expect(err.message, JSON.stringify(raw)).toMatch(reason);
    }
  });

  it('reports unreadable and non-YAML files with their path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'identity-config-'));
    try {
      await expect(loadIdentityFile(join(dir, 'missing.yaml'))).rejects.toThrow(/missing\.yaml: cannot read/);
      writeFileSync(join(dir, 'bad.yaml'), 'jwt: [unclosed');
      await expect(loadIdentityFile(join(dir, 'bad.yaml'))).rejects.toThrow(/bad\.yaml: not valid YAML/);
      writeFileSync(join(dir, 'field.yaml'), 'ipv6Prefix: 200\n');
      await expect(loadIdentityFile(join(dir, 'field.yaml'))).rejects.toThrow(
        /field\.yaml: ipv6Prefix: Invalid value: 200: should be less than or equal to 128/,
      );
      writeFileSync(join(dir, 'empty.yaml'), '');
      await expect(loadIdentityFile(join(dir, 'empty.yaml'))).resolves.toEqual(anonymousIdentity);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
