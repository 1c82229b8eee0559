import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, SignJWT, exportJWK, exportSPKI, generateKeyPair, generateSecret } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import type { IdentityIR, JwtProviderIR } from '@jarvis/api';
import { parseIdentitySettings } from './config.js';
import { JwtVerifier } from './jwt.js';
import { KeyLoadError, loadFileKeysSync, type VerifyKey } from './keys.js';
import { type KeySource, keySource } from './keysource.js';
import { isIdentityProblem } from './problems.js';
import { JwksRegistry } from './remote.js';

const ISSUER = 'https://auth.test/';
const dir = mkdtempSync(join(tmpdir(), 'identify-jwt-'));
const time = new ManualTime(1_700_000_000_000);
const nowSec = () => Math.floor(time.now() / 1000);

let rsa: { publicKey: CryptoKey; privateKey: CryptoKey };
let ec: { publicKey: CryptoKey; privateKey: CryptoKey };
let ed: { publicKey: CryptoKey; privateKey: CryptoKey };
let other: { publicKey: CryptoKey; privateKey: CryptoKey };

beforeAll(async () => {
  [rsa, ec, ed, other] = await Promise.all([
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('ES256', { extractable: true }),
    generateKeyPair('EdDSA', { extractable: true }),
    generateKeyPair('RS256', { extractable: true }),
  ]);
  writeFileSync(join(dir, 'rsa.pem'), await exportSPKI(rsa.publicKey));
  writeFileSync(join(dir, 'other.pem'), await exportSPKI(other.publicKey));
  writeFileSync(
    join(dir, 'jwks.json'),
    JSON.stringify({
      keys: [
        { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', use: 'sig' },
        { ...(await exportJWK(ed.publicKey)), kid: 'ed-1' },
        { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256' },
        { ...(await exportJWK(other.publicKey)), kid: 'enc-1', use: 'enc' },
      ],
    }),
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const PROVIDER_FIELDS = ['issuer', 'audiences', 'keys', 'algorithms', 'clockTolerance', 'tenantClaim', 'userClaim'];
const registry = new JwksRegistry({
  fetch: () => Promise.reject(new Error('no fetches here')),
  timers: time,
  stopwatch: time,
  log: { info: () => undefined, warn: () => undefined },
});

/** The `jwt` section of an identity file with one provider; `extra` goes to the provider or the section, by field. */
function jwtConfig(extra: Record<string, unknown> = {}): NonNullable<IdentityIR['jwt']> {
  const provider: Record<string, unknown> = {
    name: 'auth',
    issuer: ISSUER,
    audiences: ['jarvis', 'jarvis-admin'],
    keys: { jwksFile: 'jwks.json' },
  };
  const jwt: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(extra)) (PROVIDER_FIELDS.includes(k) ? provider : jwt)[k] = v;
  return parseIdentitySettings({ jwt: { providers: [provider], ...jwt } }, { baseDir: dir }).jwt!;
}

function verifierWith(jwt: NonNullable<IdentityIR['jwt']>, keys: KeySource, maxIdLength = 256): JwtVerifier {
  return new JwtVerifier(
    [{ config: jwt.providers[0]!, keys }],
    { cacheSize: jwt.cacheSize, maxTokenLength: jwt.maxTokenLength, maxIdLength },
    time,
  );
}

function verifier(extra: Record<string, unknown> = {}, maxIdLength = 256): JwtVerifier {
  const jwt = jwtConfig(extra);
  const keys = keySource(jwt.providers[0]!, 'jwt.providers[0].keys', {
    timers: time,
    reloadIntervalMs: 0,
    jwks: registry,
    warn: () => undefined,
  });
  return verifierWith(jwt, keys, maxIdLength);
}

const fileKeys = (p: JwtProviderIR): VerifyKey[] =>
  loadFileKeysSync(p.keys as Extract<JwtProviderIR['keys'], { type: 'JwksFile' | 'PemFiles' }>, p.algorithms, 'jwt.providers[0].keys');

async function sign(
  key: CryptoKey,
  alg: string,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const payload = { tenant: 'acme', iss: ISSUER, aud: 'jarvis', sub: 'alice', iat: nowSec(), exp: nowSec() + 600, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg, ...header }).sign(key);
}

async function detail(v: JwtVerifier, token: string): Promise<string> {
  const r = await v.verify(token);
  if (!isIdentityProblem(r)) throw new Error(`accepted: ${JSON.stringify(r)}`);
  expect(r.status).toBe(401);
  return r.detail;
}

describe('JwtVerifier', () => {
  it('verifies ES256, EdDSA and RS256 tokens from a JWKS by kid, and reads tenant and user', async () => {
    const v = verifier();
    for (const [key, alg, kid] of [
      [ec.privateKey, 'ES256', 'ec-1'],
      [ed.privateKey, 'EdDSA', 'ed-1'],
      [rsa.privateKey, 'RS256', 'rsa-1'],
      [rsa.privateKey, 'RS256', undefined],
    ] as const) {
      const r = await v.verify(await sign(key, alg, { plan: 'gold' }, kid ? { kid } : {}));
      expect(r, alg).toMatchObject({ tenant: 'acme', user: 'alice', claims: { iss: ISSUER, plan: 'gold' } });
      expect(isIdentityProblem(r)).toBe(false);
    }
  });

  it('verifies against PEM keys, trying each that fits', async () => {
    const v = verifier({ keys: { publicKeyFiles: ['other.pem', 'rsa.pem'] }, algorithms: ['RS256'] });
    expect(await v.verify(await sign(rsa.privateKey, 'RS256', {}, { kid: 'whatever' }))).toMatchObject({ tenant: 'acme', user: 'alice' });
    expect(await v.verify(await sign(other.privateKey, 'RS256'))).toMatchObject({ tenant: 'acme' });
    expect(await detail(v, await sign(ec.privateKey, 'ES256'))).toMatch(/algorithm "ES256" is not allowed/);
  });

  it('refuses expired, early, wrong-issuer, wrong-audience and exp-less tokens with a clear detail', async () => {
    const v = verifier({ clockTolerance: '5s' });
    expect(await detail(v, await sign(ec.privateKey, 'ES256', { exp: nowSec() - 10 }, { kid: 'ec-1' }))).toBe('the token has expired');
    expect(await v.verify(await sign(ec.privateKey, 'ES256', { exp: nowSec() - 3 }, { kid: 'ec-1' }))).toMatchObject({ tenant: 'acme' }); // inside the tolerance
    expect(await detail(v, await sign(ec.privateKey, 'ES256', { nbf: nowSec() + 60 }, { kid: 'ec-1' }))).toMatch(/not valid yet/);
    expect(await detail(v, await sign(ec.privateKey, 'ES256', { iss: 'https://evil.test/' }, { kid: 'ec-1' }))).toBe(
      `the token's issuer is not "${ISSUER}"`,
    );
    expect(await detail(v, await sign(ec.privateKey, 'ES256', { aud: 'someone-else' }, { kid: 'ec-1' }))).toMatch(
      /audience is none of "jarvis", "jarvis-admin"/,
    );
    expect(await v.verify(await sign(ec.privateKey, 'ES256', { aud: ['x', 'jarvis-admin'] }, { kid: 'ec-1' }))).toMatchObject({
      tenant: 'acme',
    });
    const noExp = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'ec-1' })
      .setIssuer(ISSUER)
      .setAudience('jarvis')
      .sign(ec.privateKey);
    expect(await detail(v, noExp)).toBe('the token has no "exp" claim');
  });

  it('refuses alg none, HS256, foreign keys and unknown kids', async () => {
    const v = verifier();
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const body = b64({ iss: ISSUER, aud: 'jarvis', sub: 'mallory', tenant: 'acme', exp: nowSec() + 600 });
    expect(await detail(v, `${b64({ alg: 'none' })}.${body}.`)).toMatch(/alg "none"/);
    expect(await detail(v, `${b64({ alg: 'NONE', typ: 'JWT' })}.${body}.`)).toMatch(/alg "none"/);
    const hs = await new SignJWT({ tenant: 'acme' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience('jarvis')
      .setExpirationTime(nowSec() + 60)
      .sign(await generateSecret('HS256'));
    expect(await detail(v, hs)).toMatch(/"HS256" is not allowed/);
    expect(await detail(v, await sign(other.privateKey, 'RS256', {}, { kid: 'rsa-1' }))).toMatch(/signature does not verify/);
    expect(await detail(v, await sign(ec.privateKey, 'ES256', {}, { kid: 'nope' }))).toBe('no configured key has kid "nope" for ES256');
    // a token re-signed with the attacker's key but the claims of a real one
    const good = (await sign(ec.privateKey, 'ES256', {}, { kid: 'ec-1' })).split('.');
    const forged = (await sign(ec.privateKey, 'ES256', { tenant: 'victim' }, { kid: 'ec-1' })).split('.');
    expect(await detail(v, `${good[0]}.${forged[1]}.${good[2]}`)).toMatch(/signature does not verify/);
  });

  it('refuses malformed tokens', async () => {
    const v = verifier();
    for (const t of [
      'abc',
      'a.b.c',
      '...',
      'eyJhbGciOiJFUzI1NiJ9.%%%.sig',
      `${Buffer.from('{"alg":"ES256","kid":"ec-1"}').toString('base64url')}.bm90IGpzb24.c2ln`,
    ]) {
      const d = await detail(v, t);
      expect(d, t).toMatch(/malformed|not a well-formed JWT|not a signed JWT|signature/);
    }
    expect(await detail(v, 'e'.repeat(9000))).toMatch(/longer than 8192/);
  });

  it('turns odd claims into 400s, numbers into strings', async () => {
    const v = verifier({}, 16);
    const bad = async (claims: Record<string, unknown>) => {
      const r = await v.verify(await sign(ec.privateKey, 'ES256', claims, { kid: 'ec-1' }));
      if (!isIdentityProblem(r)) throw new Error('accepted');
      expect(r.status).toBe(400);
      return r.detail;
    };
    expect(await bad({ tenant: 'ac\u0007me' })).toMatch(/"tenant" claim contains the control or invisible character U\+0007/);
    expect(await bad({ tenant: 'x'.repeat(17) })).toMatch(/longer than 16/);
    expect(await bad({ tenant: { id: 1 } })).toMatch(/must be a string, got object/);
    expect(await bad({ sub: 'bob\u202e' })).toMatch(/"sub" claim contains/);
    expect(await v.verify(await sign(ec.privateKey, 'ES256', { tenant: 42 }, { kid: 'ec-1' }))).toMatchObject({ tenant: '42' });
    expect(await v.verify(await sign(ec.privateKey, 'ES256', { tenant: 'Cafe\u0301' }, { kid: 'ec-1' }))).toMatchObject({
      tenant: 'Caf\u00e9',
    });
    const r = await v.verify(await sign(ec.privateKey, 'ES256', { tenant: undefined }, { kid: 'ec-1' }));
    expect(r).toMatchObject({ tenant: undefined, user: 'alice' });
  });

  it('reads custom tenant and user claims', async () => {
    const v = verifier({ tenantClaim: 'https://jarvis.io/org', userClaim: 'email' });
    expect(
      await v.verify(await sign(ec.privateKey, 'ES256', { 'https://jarvis.io/org': 'org-7', email: 'a@b.c' }, { kid: 'ec-1' })),
    ).toMatchObject({
      tenant: 'org-7',
      user: 'a@b.c',
    });
  });

  it('answers a repeated token from its bounded cache until the token expires', async () => {
    const v = verifier({ cacheSize: 2, clockTolerance: '0s' });
    const token = await sign(ec.privateKey, 'ES256', { exp: nowSec() + 60 }, { kid: 'ec-1' });
    const first = await v.verify(token);
    const second = v.verify(token);
    expect(second).not.toBeInstanceOf(Promise); // a hit is synchronous
    expect(second).toBe(first);
    for (let i = 0; i < 5; i++) await v.verify(await sign(ec.privateKey, 'ES256', { n: i }, { kid: 'ec-1' }));
    expect(v.cacheSize).toBe(2);
    await v.verify(token);
    time.advance(61_000);
    expect(await detail(v, token)).toBe('the token has expired');
  });

  it('forgets cached tokens when the keys change', async () => {
    const jwt = jwtConfig();
    let keys = fileKeys(jwt.providers[0]!);
    const source = { version: 0, keys: () => keys, close: () => undefined };
    const v = verifierWith(jwt, source);
    const token = await sign(ec.privateKey, 'ES256', {}, { kid: 'ec-1' });
    expect(await v.verify(token)).toMatchObject({ tenant: 'acme' });
    expect(v.verify(token)).not.toBeInstanceOf(Promise);
    keys = fileKeys(jwtConfig({ keys: { publicKeyFiles: ['rsa.pem'] } }).providers[0]!);
    source.version++;
    expect(await detail(v, token)).toMatch(/no configured key has kid "ec-1"/);
  });
});

describe('key files', () => {
  it('refuse private keys, symmetric keys, small RSA keys and keys for no configured algorithm', async () => {
    const private_ = await generateKeyPair('ES256', { extractable: true });
    writeFileSync(join(dir, 'private.json'), JSON.stringify({ keys: [await exportJWK(private_.privateKey)] }));
    writeFileSync(
      join(dir, 'octet.json'),
      JSON.stringify({ keys: [await exportJWK(await generateSecret('HS256', { extractable: true }))] }),
    );
    writeFileSync(join(dir, 'notjwks.json'), '{"kty":"EC"}');
    writeFileSync(join(dir, 'garbage.pem'), '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
    writeFileSync(join(dir, 'private.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    writeFileSync(join(dir, 'small.pem'), small.publicKey.export({ type: 'spki', format: 'pem' }));
    const load = (keys: Record<string, unknown>, algorithms?: string[]) => {
      const c = jwtConfig({ keys, ...(algorithms ? { algorithms } : {}) });
      try {
        fileKeys(c.providers[0]!);
      } catch (err) {
        if (err instanceof KeyLoadError) return err.message;
        throw err;
      }
      return 'loaded';
    };
    expect(load({ jwksFile: 'private.json' })).toMatch(
      /^jwt\.providers\[0\]\.keys\.jwksFile: .*keys\[0\] holds private or symmetric key material/,
    );
    expect(load({ jwksFile: 'octet.json' })).toMatch(/private or symmetric/);
    expect(load({ jwksFile: 'notjwks.json' })).toMatch(/is not a JWKS/);
    expect(load({ jwksFile: 'missing.json' })).toMatch(/cannot read/);
    expect(load({ publicKeyFiles: ['rsa.pem', 'garbage.pem'] })).toMatch(
      /^jwt\.providers\[0\]\.keys\.publicKeyFiles\[1\]: .*not a PEM public key/,
    );
    expect(load({ publicKeyFiles: ['private.pem'] })).toMatch(/holds a private key/);
    expect(load({ publicKeyFiles: ['small.pem'] })).toMatch(/rsa 1024-bit key verifies none.*at least 2048 bits/);
    expect(load({ publicKeyFiles: ['rsa.pem'] }, ['ES256'])).toMatch(/verifies none of the configured algorithms \(ES256\)/);
    expect(load({ jwksFile: 'jwks.json' }, ['ES384'])).toMatch(/no signing key for the configured algorithms/);
    expect(load({ jwksFile: 'jwks.json' })).toBe('loaded');
  });
});
