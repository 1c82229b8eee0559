import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IdentityConfigError, defaultIdentityConfig, loadIdentityConfig, parseIdentityConfig } from './config.js';

const minimalJwt = { issuer: 'https://issuer.test/', audiences: ['jarvis'], keys: { jwksFile: 'jwks.json' } };

function refusal(raw: unknown): IdentityConfigError {
  try {
    parseIdentityConfig(raw, { baseDir: '/cfg' });
  } catch (err) {
    if (err instanceof IdentityConfigError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('identity config', () => {
  it('defaults to anonymous', () => {
    expect(parseIdentityConfig({})).toEqual(defaultIdentityConfig);
    expect(defaultIdentityConfig).toMatchObject({ jwt: null, apiKeys: null, trustedProxies: [], ipv6Prefix: 64 });
    expect(Object.isFrozen(defaultIdentityConfig)).toBe(true);
  });

  it('fills JWT and API key defaults and resolves relative files against the config directory', () => {
    const c = parseIdentityConfig({ jwt: minimalJwt, apiKeys: { file: 'keys.yaml' } }, { baseDir: '/cfg' });
    expect(c.jwt).toEqual({
      ...minimalJwt,
      keys: { jwksFile: '/cfg/jwks.json' },
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      clockToleranceSec: 30,
      tenantClaim: 'tenant',
      userClaim: 'sub',
      header: { name: 'authorization', scheme: 'Bearer' },
      required: false,
      cacheSize: 1024,
      maxTokenLength: 8192,
    });
    expect(c.apiKeys).toEqual({ file: '/cfg/keys.yaml', header: 'x-api-key' });
    const pem = parseIdentityConfig(
      { jwt: { ...minimalJwt, keys: { publicKeyFiles: ['/abs/a.pem', 'b.pem'] }, header: { name: 'X-Token', scheme: null } } },
      { baseDir: '/cfg' },
    );
    expect(pem.jwt?.keys).toEqual({ publicKeyFiles: ['/abs/a.pem', '/cfg/b.pem'] });
    expect(pem.jwt?.header).toEqual({ name: 'x-token', scheme: null });
  });

  it('loads the example file', async () => {
    const c = await loadIdentityConfig(new URL('./example-identity.yaml', import.meta.url).pathname);
    expect(c.jwt?.issuer).toBe('https://auth.jarvis.example.com/');
    expect(c.jwt?.keys).toEqual({ jwksFile: '/etc/jarvis/jwt/jwks.json' });
    expect(c.apiKeys).toEqual({ file: '/etc/jarvis/apikeys/keys.yaml', header: 'x-api-key' });
    expect(c.trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8']);
    expect(c.trustedHeaders).toEqual({ tenant: 'x-tenant-id', user: 'x-user-id' });
  });

  it('names the field it refuses', () => {
    const cases: [unknown, string, RegExp][] = [
      [[], '', /must be a map/],
      [{ trustedProxy: [] }, 'trustedProxy', /unknown field/],
      [{ trustedProxies: ['10.0.0.0/8', '10.0.0.0/33'] }, 'trustedProxies[1]', /not an IPv4 or IPv6/],
      [{ trustedProxies: '10.0.0.0/8' }, 'trustedProxies', /must be a list/],
      [{ ipv6Prefix: 129 }, 'ipv6Prefix', /integer from 1 to 128/],
      [{ ipv6Prefix: '64' }, 'ipv6Prefix', /integer/],
      [{ forwardedHeader: 'x-real-ip' }, 'forwardedHeader', /x-forwarded-for/],
      [{ trustedHeaders: { tenant: 'x tenant' } }, 'trustedHeaders.tenant', /header name/],
      [{ jwt: { ...minimalJwt, audiences: [] } }, 'jwt.audiences', /must not be empty/],
      [{ jwt: { ...minimalJwt, audiences: ['a', 3] } }, 'jwt.audiences[1]', /non-empty string/],
      [{ jwt: { ...minimalJwt, issuer: undefined } }, 'jwt.issuer', /non-empty string/],
      [{ jwt: { ...minimalJwt, keys: { jwksFile: 'a', publicKeyFiles: ['b'] } } }, 'jwt.keys', /exactly one/],
      [{ jwt: { ...minimalJwt, keys: {} } }, 'jwt.keys', /exactly one/],
      [{ jwt: { ...minimalJwt, keys: { publicKeyFiles: [] } } }, 'jwt.keys.publicKeyFiles', /must not be empty/],
      [{ jwt: { ...minimalJwt, algorithms: ['RS256', 'none'] } }, 'jwt.algorithms[1]', /not accepted/],
      [{ jwt: { ...minimalJwt, algorithms: ['HS256'] } }, 'jwt.algorithms[0]', /shared-secret/],
      [{ jwt: { ...minimalJwt, algorithms: ['RS257'] } }, 'jwt.algorithms[0]', /unknown algorithm/],
      [{ jwt: { ...minimalJwt, clockToleranceSec: -1 } }, 'jwt.clockToleranceSec', /integer/],
      [{ jwt: { ...minimalJwt, required: 'yes' } }, 'jwt.required', /true or false/],
      [{ jwt: { ...minimalJwt, header: { scheme: 'Bear er' } } }, 'jwt.header.scheme', /auth scheme/],
      [{ jwt: { ...minimalJwt, secret: 'x' } }, 'jwt.secret', /unknown field/],
      [{ apiKeys: { header: 'x-api-key' } }, 'apiKeys.file', /non-empty string/],
      [{ apiKeys: { file: 'k', header: 'x-tenant-id' } }, '', /different headers/],
    ];
    for (const [raw, field, reason] of cases) {
      const err = refusal(raw);
      expect(err.field, JSON.stringify(raw)).toBe(field);
      expect(err.message).toMatch(reason);
    }
  });

  it('reports unreadable and non-YAML files with their path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'identity-config-'));
    try {
      await expect(loadIdentityConfig(join(dir, 'missing.yaml'))).rejects.toThrow(/missing\.yaml: cannot read/);
      writeFileSync(join(dir, 'bad.yaml'), 'jwt: [unclosed');
      await expect(loadIdentityConfig(join(dir, 'bad.yaml'))).rejects.toThrow(/bad\.yaml: not valid YAML/);
      writeFileSync(join(dir, 'field.yaml'), 'ipv6Prefix: 200\n');
      await expect(loadIdentityConfig(join(dir, 'field.yaml'))).rejects.toThrow(
        /field\.yaml: ipv6Prefix: must be an integer from 1 to 128, got number 200/,
      );
      writeFileSync(join(dir, 'empty.yaml'), '');
      await expect(loadIdentityConfig(join(dir, 'empty.yaml'))).resolves.toEqual(defaultIdentityConfig);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
