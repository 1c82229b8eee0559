import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingHttpHeaders, createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualTime } from '../clock.js';
import { hashApiKey } from './apikeys.js';
import { IdentityConfigError, anonymousIdentity, parseIdentitySettings } from './config.js';
import { type Identifier, type Identity, type IdentifyRequest, createIdentifier } from './identifier.js';
import { type IdentityProblem, isIdentityProblem } from './problems.js';

const ISSUER = 'https://auth.test/';
const dir = mkdtempSync(join(tmpdir(), 'identify-'));
const KEY_A = 'jv_test_key_a_0123456789';
const KEY_B = 'jv_test_key_b_9876543210';

let es: { publicKey: CryptoKey; privateKey: CryptoKey };
let rs: { publicKey: CryptoKey; privateKey: CryptoKey };

beforeAll(async () => {
  [es, rs] = await Promise.all([generateKeyPair('ES256', { extractable: true }), generateKeyPair('RS256', { extractable: true })]);
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(es.publicKey)), kid: 'es' }] }));
  writeFileSync(join(dir, 'rs.pem'), await exportSPKI(rs.publicKey));
  writeApiKeys('keys.yaml', [{ key: KEY_A, tenant: 'acme', user: 'ingest', claims: { plan: 'gold' } }]);
});

function writeApiKeys(
  name: string,
  entries: { key: string; tenant?: string; user?: string; expiresAt?: string; claims?: Record<string, string> }[],
): void {
  const body = entries.map(({ key, ...rest }) => ({ sha256: hashApiKey(key), ...rest }));
  // write-then-rename, the way a Secret volume swaps its contents
  writeFileSync(join(dir, `${name}.tmp`), JSON.stringify({ keys: body }));
  renameSync(join(dir, `${name}.tmp`), join(dir, name));
}

const open: Identifier[] = [];
afterEach(() => {
  while (open.length > 0) open.pop()!.close();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function identifier(raw: Record<string, unknown>, time = new ManualTime(), log = { warn: vi.fn() }): Identifier {
  const config = parseIdentitySettings(raw, { baseDir: dir });
  const id = createIdentifier(config, { clock: time, timers: time, log });
  open.push(id);
  return id;
}

const PROVIDER_FIELDS = ['issuer', 'audiences', 'keys', 'algorithms', 'clockTolerance', 'tenantClaim', 'userClaim'];
/** A `jwt` section with one provider; `extra` goes to the provider or to the section, by field. */
function jwtBlock(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const provider: Record<string, unknown> = { name: 'auth', issuer: ISSUER, audiences: ['jarvis'], keys: { jwksFile: 'jwks.json' } };
  const jwt: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(extra)) (PROVIDER_FIELDS.includes(k) ? provider : jwt)[k] = v;
  return { providers: [provider], ...jwt };
}
const full = (extra: Record<string, unknown> = {}) => ({
  jwt: jwtBlock(),
  apiKeys: { file: 'keys.yaml' },
  trustedProxies: ['10.0.0.0/8', '127.0.0.1', 'fd00::/8'],
  ...extra,
});

async function token(
  time: ManualTime,
  claims: Record<string, unknown> = {},
  key: CryptoKey = es.privateKey,
  header: Record<string, unknown> = { alg: 'ES256', kid: 'es' },
): Promise<string> {
  const now = Math.floor(time.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: 'jarvis', sub: 'alice', tenant: 'acme', exp: now + 300, ...claims })
    .setProtectedHeader({ alg: 'ES256', ...header })
    .sign(key);
}

/** A request as node:http would hand it over: lowercase `headers` plus `rawHeaders`. */
function req(remoteAddress: string, pairs: [string, string][] = []): IdentifyRequest {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of pairs) {
    const k = name.toLowerCase();
    const prev = headers[k];
    if (k === 'authorization')
      headers[k] ??= value; // node:http keeps the first
    else headers[k] = prev === undefined ? value : `${String(prev)}, ${value}`;
  }
  return { remoteAddress, headers, rawHeaders: pairs.flat() };
}

function ok(r: Identity | IdentityProblem): Identity {
  if (isIdentityProblem(r)) throw new Error(`refused: ${r.status} ${r.detail}`);
  return r;
}

function problem(r: Identity | IdentityProblem): IdentityProblem {
  if (!isIdentityProblem(r)) throw new Error(`accepted: ${JSON.stringify(r)}`);
  return r;
}

describe('client address', () => {
  it('is the direct peer by default, normalized and keyed by the IPv6 prefix', async () => {
    const id = createIdentifier(anonymousIdentity, { clock: new ManualTime() });
    open.push(id);
    expect(ok(await id.identify(req('192.0.2.7')))).toEqual({
      clientIp: '192.0.2.7',
      tenant: undefined,
      user: undefined,
      claims: {},
      method: 'anonymous',
      peer: '192.0.2.7',
      peerTrusted: false,
    });
    expect(ok(await id.identify(req('::ffff:192.0.2.7'))).clientIp).toBe('192.0.2.7');
    expect(ok(await id.identify(req('::ffff:192.0.2.7'))).peer).toBe('192.0.2.7');
    expect(ok(await id.identify(req('2001:db8:1:2:3:4:5:6'))).peer).toBe('2001:db8:1:2:3:4:5:6');
    expect(ok(await id.identify(req('2001:db8:1:2:3:4:5:6'))).clientIp).toBe('2001:db8:1:2::/64');
    expect(ok(await id.identify(req('2001:DB8:1:2::ffff'))).clientIp).toBe('2001:db8:1:2::/64');
    expect(ok(await id.identify(req('fe80::1%eth0'))).clientIp).toBe('fe80::/64');
    expect(ok(await id.identify(req(''))).clientIp).toBe('unknown');
  });

  it('one identifier serving peers that alternate, trusted and not, gives each its own address', async () => {
    const id = identifier({ trustedProxies: ['10.0.0.0/8'] });
    const xff: [string, string][] = [['x-forwarded-for', '198.51.100.9']];
    for (let i = 0; i < 2; i++) {
      expect(ok(await id.identify(req('192.0.2.7', xff)))).toMatchObject({ clientIp: '192.0.2.7', peer: '192.0.2.7', peerTrusted: false });
      expect(ok(await id.identify(req('10.1.2.3', xff)))).toMatchObject({ clientIp: '198.51.100.9', peer: '10.1.2.3', peerTrusted: true });
      expect(ok(await id.identify(req('10.1.2.3')))).toMatchObject({ clientIp: '10.1.2.3', peer: '10.1.2.3', peerTrusted: true });
      expect(ok(await id.identify(req('2001:db8::1', xff)))).toMatchObject({ clientIp: '2001:db8::/64', peerTrusted: false });
      expect(ok(await id.identify(req('')))).toMatchObject({ clientIp: 'unknown', peer: '', peerTrusted: false });
    }
  });

  it('honours a configured IPv6 prefix', async () => {
    const id = identifier({ ipv6Prefix: 48 });
    expect(ok(await id.identify(req('2001:db8:1:2:3:4:5:6'))).clientIp).toBe('2001:db8:1::/48');
  });

  it('ignores X-Forwarded-For and Forwarded from an untrusted peer', async () => {
    const id = identifier(full());
    const r = ok(
      await id.identify(
        req('203.0.113.9', [
          ['X-Forwarded-For', '1.2.3.4'],
          ['Forwarded', 'for=5.6.7.8'],
        ]),
      ),
    );
    expect(r.clientIp).toBe('203.0.113.9');
  });

  it('walks X-Forwarded-For from a trusted peer to the first untrusted hop', async () => {
    const id = identifier(full());
    expect(ok(await id.identify(req('10.0.0.5', [['X-Forwarded-For', '6.6.6.6, 198.51.100.4, 10.1.1.1']]))).clientIp).toBe('198.51.100.4');
    expect(ok(await id.identify(req('::ffff:10.0.0.5', [['X-Forwarded-For', '198.51.100.4']]))).clientIp).toBe('198.51.100.4');
    expect(ok(await id.identify(req('fd00::5', [['X-Forwarded-For', '2001:db8:aa:bb:cc::1']]))).clientIp).toBe('2001:db8:aa:bb::/64');
    // two headers are one list, in order
    expect(
      ok(
        await id.identify(
          req('10.0.0.5', [
            ['X-Forwarded-For', '6.6.6.6'],
            ['X-Forwarded-For', '198.51.100.4'],
          ]),
        ),
      ).clientIp,
    ).toBe('198.51.100.4');
    // garbage from a trusted chain: the client is the last hop that could vouch
    expect(ok(await id.identify(req('10.0.0.5', [['X-Forwarded-For', '<script>, 10.1.1.1']]))).clientIp).toBe('10.1.1.1');
    expect(ok(await id.identify(req('10.0.0.5', [['X-Forwarded-For', '\u00ff\u00fe']]))).clientIp).toBe('10.0.0.5');
  });

  it('reads Forwarded instead when so configured, and then not X-Forwarded-For', async () => {
    const id = identifier(full({ forwardedHeader: 'forwarded' }));
    const r = ok(
      await id.identify(
        req('10.0.0.5', [
          ['X-Forwarded-For', '6.6.6.6'],
          ['Forwarded', 'for="[2001:db8::9]:443";proto=https, for=10.2.2.2'],
        ]),
      ),
    );
    expect(r.clientIp).toBe('2001:db8::/64');
    expect(ok(await id.identify(req('10.0.0.5', [['X-Forwarded-For', '6.6.6.6']]))).clientIp).toBe('10.0.0.5');
  });
});

describe('trusted identity headers', () => {
  it('are honoured only from a trusted direct peer', async () => {
    const id = identifier(full());
    const spoof: [string, string][] = [
      ['X-Tenant-Id', 'victim'],
      ['X-User-Id', 'admin'],
    ];
    expect(ok(await id.identify(req('203.0.113.9', spoof)))).toMatchObject({ tenant: undefined, user: undefined, method: 'anonymous' });
    // a trusted address in X-Forwarded-For does not make the peer trusted
    expect(ok(await id.identify(req('203.0.113.9', [...spoof, ['X-Forwarded-For', '10.0.0.1']])))).toMatchObject({
      tenant: undefined,
      method: 'anonymous',
    });
    expect(ok(await id.identify(req('10.0.0.5', spoof)))).toMatchObject({
      tenant: 'victim',
      user: 'admin',
      method: 'trustedHeader',
      claims: {},
    });
    expect(ok(await id.identify(req('10.0.0.5', [['X-Tenant-Id', '']])))).toMatchObject({ method: 'anonymous' });
  });

  it('are checked: NFC, UTF-8, no control characters, bounded, not repeated', async () => {
    const id = identifier(full({ maxIdLength: 32 }));
    const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1'); // what node:http hands over
    expect(ok(await id.identify(req('10.0.0.5', [['x-tenant-id', utf8('Cafe\u0301')]]))).tenant).toBe('Caf\u00e9');
    expect(ok(await id.identify(req('10.0.0.5', [['x-tenant-id', utf8('租户')]]))).tenant).toBe('租户');
    const bad = async (pairs: [string, string][]) => problem(await id.identify(req('10.0.0.5', pairs)));
    expect(await bad([['x-tenant-id', 'acme\t']])).toMatchObject({
      status: 400,
      type: 'invalid-identity',
      detail: 'x-tenant-id contains the control or invisible character U+0009',
    });
    expect(await bad([['x-user-id', utf8('bob\u200b')]])).toMatchObject({
      status: 400,
      detail: 'x-user-id contains the control or invisible character U+200B',
    });
    expect(await bad([['x-tenant-id', 'a'.repeat(33)]])).toMatchObject({ status: 400, detail: 'x-tenant-id is longer than 32 characters' });
    expect(await bad([['x-tenant-id', '\u00ff\u00fe']])).toMatchObject({ status: 400, detail: 'x-tenant-id is not valid UTF-8' });
    expect(
      await bad([
        ['x-tenant-id', 'a'],
        ['x-tenant-id', 'b'],
      ]),
    ).toMatchObject({ status: 400, type: 'ambiguous-credentials', detail: 'the request carries 2 x-tenant-id headers; send exactly one' });
  });
});

describe('JWT', () => {
  it('identifies by verified claims and keeps the client address', async () => {
    const time = new ManualTime();
    const id = identifier(full(), time);
    const r = ok(
      await id.identify(
        req('10.0.0.5', [
          ['Authorization', `Bearer ${await token(time, { plan: 'pro' })}`],
          ['X-Forwarded-For', '198.51.100.4'],
        ]),
      ),
    );
    expect(r).toMatchObject({
      clientIp: '198.51.100.4',
      tenant: 'acme',
      user: 'alice',
      method: 'jwt',
      claims: { plan: 'pro', iss: ISSUER },
    });
    // JWT claims win over trusted headers and over an API key
    const both = ok(
      await id.identify(
        req('10.0.0.5', [
          ['authorization', `bearer ${await token(time)}`],
          ['x-tenant-id', 'other'],
          ['x-api-key', KEY_A],
        ]),
      ),
    );
    expect(both).toMatchObject({ tenant: 'acme', method: 'jwt' });
  });

  it('refuses a bad token with 401 instead of falling back to anything else', async () => {
    const time = new ManualTime();
    const id = identifier(full(), time);
    const expired = await token(time, { exp: Math.floor(time.now() / 1000) - 3600 });
    const cases: [string, RegExp][] = [
      [`Bearer ${expired}`, /expired/],
      [`Bearer ${await token(time, { iss: 'https://other/' })}`, /issuer/],
      [`Bearer ${await token(time, { aud: 'other' })}`, /audience/],
      [`Bearer ${await token(time, {}, rs.privateKey, { alg: 'RS256' })}`, /no configured key verifies RS256/],
      [
        `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"tenant":"acme"}').toString('base64url')}.`,
        /alg "none"/,
      ],
      ['Bearer not.a.jwt', /well-formed|malformed/],
      ['Bearer ', /expected "authorization: Bearer <token>"|empty/],
      ['Basic YWxhZGRpbjpvcGVuc2VzYW1l', /expected "authorization: Bearer <token>"/],
      [`Bearer${await token(time)}`, /expected/],
    ];
    for (const [value, detail] of cases) {
      const p = problem(
        await id.identify(
          req('10.0.0.5', [
            ['Authorization', value],
            ['x-tenant-id', 'acme'],
            ['x-api-key', KEY_A],
          ]),
        ),
      );
      expect(p.status, value).toBe(401);
      expect(p.type).toBe('invalid-token');
      expect(p.detail, value).toMatch(detail);
    }
  });

  it('checks expiry against the injected clock, also for cached tokens', async () => {
    const time = new ManualTime();
    const id = identifier(full({ jwt: jwtBlock({ clockTolerance: '0s' }) }), time);
    const t = await token(time, { exp: Math.floor(time.now() / 1000) + 60 });
    const r = req('192.0.2.1', [['Authorization', `Bearer ${t}`]]);
    expect(ok(await id.identify(r)).method).toBe('jwt');
    time.advance(59_000);
    expect(ok(await id.identify(r)).method).toBe('jwt');
    time.advance(1_000);
    expect(problem(await id.identify(r)).detail).toBe('the token has expired');
  });

  it('refuses repeated Authorization headers with 400, even those node:http drops', async () => {
    const time = new ManualTime();
    const id = identifier(full(), time);
    const t = await token(time);
    const p = problem(
      await id.identify(
        req('10.0.0.5', [
          ['Authorization', `Bearer ${t}`],
          ['authorization', 'Bearer other'],
        ]),
      ),
    );
    expect(p).toMatchObject({
      status: 400,
      type: 'ambiguous-credentials',
      detail: 'the request carries 2 Authorization headers; send exactly one',
    });
    // also when no JWT is configured: the upstream would have to pick one
    const anon = identifier({});
    expect(
      problem(
        await anon.identify(
          req('192.0.2.1', [
            ['Authorization', 'Basic a'],
            ['Authorization', 'Basic b'],
          ]),
        ),
      ).status,
    ).toBe(400);
    expect(ok(await anon.identify(req('192.0.2.1', [['Authorization', 'Basic a']]))).method).toBe('anonymous');
  });

  it('reads a bare token from a custom header', async () => {
    const time = new ManualTime();
    const id = identifier({ jwt: jwtBlock({ header: { name: 'x-jarvis-token', scheme: '' } }) }, time);
    expect(ok(await id.identify(req('192.0.2.1', [['x-jarvis-token', await token(time)]]))).method).toBe('jwt');
  });

  it('demands credentials when required', async () => {
    const time = new ManualTime();
    const id = identifier(full({ jwt: jwtBlock({ required: true }) }), time);
    expect(problem(await id.identify(req('203.0.113.9')))).toMatchObject({
      status: 401,
      type: 'credentials-required',
      detail: 'send "authorization: Bearer <token>" or an API key in x-api-key',
    });
    expect(problem(await id.identify(req('203.0.113.9', [['x-tenant-id', 'acme']]))).status).toBe(401);
    expect(ok(await id.identify(req('203.0.113.9', [['x-api-key', KEY_A]]))).method).toBe('apiKey');
    expect(ok(await id.identify(req('10.0.0.5', [['x-tenant-id', 'acme']]))).method).toBe('trustedHeader');
  });

  it('picks up rotated keys and forgets tokens of removed ones; a broken key file keeps the old keys', async () => {
    const time = new ManualTime();
    const log = { warn: vi.fn() };
    writeFileSync(join(dir, 'rot.json'), readFileSync(join(dir, 'jwks.json')));
    const id = identifier({ jwt: jwtBlock({ keys: { jwksFile: 'rot.json' }, algorithms: ['ES256', 'RS256'] }) }, time, log);
    const esReq = req('192.0.2.1', [['Authorization', `Bearer ${await token(time)}`]]);
    const rsReq = req('192.0.2.1', [['Authorization', `Bearer ${await token(time, {}, rs.privateKey, { alg: 'RS256', kid: 'rs' })}`]]);
    expect(ok(await id.identify(esReq)).method).toBe('jwt');
    expect(problem(await id.identify(rsReq)).status).toBe(401);

    writeFileSync(join(dir, 'rot.json'), JSON.stringify({ keys: [{ ...(await exportJWK(rs.publicKey)), kid: 'rs' }] }));
    await id.reload();
    expect(ok(await id.identify(rsReq)).method).toBe('jwt');
    expect(problem(await id.identify(esReq)).detail).toMatch(/no configured key has kid "es"/);

    writeFileSync(join(dir, 'rot.json'), '{ not json');
    await id.reload();
    expect(log.warn).toHaveBeenCalledWith(
      expect.stringMatching(/keeping the previous keys/),
      expect.objectContaining({ error: expect.stringMatching(/not JSON/) }),
    );
    expect(ok(await id.identify(rsReq)).method).toBe('jwt');
  });

  it('refuses to start without usable keys, naming the field', () => {
    const config = parseIdentitySettings({ jwt: jwtBlock({ keys: { publicKeyFiles: ['rs.pem', 'nope.pem'] } }) }, { baseDir: dir });
    expect(() => createIdentifier(config, { clock: new ManualTime() })).toThrow(IdentityConfigError);
    expect(() => createIdentifier(config, { clock: new ManualTime() })).toThrow(
      /^jwt\.providers\[0\]\.keys\.publicKeyFiles\[1\]: cannot read .*nope\.pem/,
    );
  });
});

describe('API keys', () => {
  it('identify by the hashed key file', async () => {
    const id = identifier(full());
    expect(ok(await id.identify(req('203.0.113.9', [['X-Api-Key', KEY_A]])))).toEqual({
      clientIp: '203.0.113.9',
      tenant: 'acme',
      user: 'ingest',
      claims: { plan: 'gold' },
      method: 'apiKey',
      peer: '203.0.113.9',
      peerTrusted: false,
    });
    // an API key overrides trusted headers
    expect(
      ok(
        await id.identify(
          req('10.0.0.5', [
            ['x-api-key', KEY_A],
            ['x-tenant-id', 'other'],
          ]),
        ),
      ),
    ).toMatchObject({ tenant: 'acme', method: 'apiKey' });
  });

  it('refuse unknown, expired, oversized and repeated keys', async () => {
    const time = new ManualTime(Date.UTC(2029, 11, 31, 23, 59, 59));
    writeApiKeys('exp.yaml', [{ key: KEY_A, tenant: 'acme', expiresAt: '2030-01-01T00:00:00Z' }]);
    const id = identifier(full({ apiKeys: { file: 'exp.yaml' } }), time);
    expect(ok(await id.identify(req('203.0.113.9', [['x-api-key', KEY_A]]))).tenant).toBe('acme');
    const bad = async (pairs: [string, string][]) => problem(await id.identify(req('203.0.113.9', pairs)));
    expect(await bad([['x-api-key', KEY_B]])).toMatchObject({
      status: 401,
      type: 'invalid-api-key',
      detail: 'the key in x-api-key is not known',
    });
    expect(await bad([['x-api-key', 'k'.repeat(513)]])).toMatchObject({
      status: 401,
      detail: 'the x-api-key header must hold 1 to 512 characters',
    });
    expect(
      await bad([
        ['x-api-key', KEY_A],
        ['X-API-KEY', KEY_B],
      ]),
    ).toMatchObject({ status: 400, detail: 'the request carries 2 x-api-key headers; send exactly one' });
    time.advance(1_000);
    expect(await bad([['x-api-key', KEY_A]])).toMatchObject({ status: 401, detail: 'the key in x-api-key has expired' });
  });

  it('reload when the file changes; an invalid file keeps the previous set and is logged', async () => {
    const time = new ManualTime();
    const log = { warn: vi.fn() };
    writeApiKeys('live.yaml', [{ key: KEY_A, tenant: 'acme' }]);
    const id = identifier(full({ apiKeys: { file: 'live.yaml' }, reloadInterval: '5s' }), time, log);
    const a = req('203.0.113.9', [['x-api-key', KEY_A]]);
    const b = req('203.0.113.9', [['x-api-key', KEY_B]]);
    expect(ok(await id.identify(a)).tenant).toBe('acme');

    writeApiKeys('live.yaml', [{ key: KEY_B, tenant: 'beta', user: 'rotated-in' }]);
    time.advance(5_000); // the poll notices the swapped file
    await vi.waitFor(async () => expect(ok(await id.identify(b)).tenant).toBe('beta'));
    expect(problem(await id.identify(a)).status).toBe(401);

    writeApiKeys('live.yaml', [{ key: KEY_A, tenant: 'bad\u0000' }]);
    time.advance(5_000);
    await vi.waitFor(() => expect(log.warn).toHaveBeenCalledTimes(1));
    expect(log.warn.mock.calls[0]?.[1]).toMatchObject({ error: expect.stringMatching(/keys\[0\]\.tenant: contains the control/) });
    expect(ok(await id.identify(b)).tenant).toBe('beta');
  });

  it('refuse to start on a missing or invalid file, naming the field', () => {
    const missing = parseIdentitySettings({ apiKeys: { file: 'absent.yaml' } }, { baseDir: dir });
    expect(() => createIdentifier(missing, { clock: new ManualTime() })).toThrow(/^apiKeys\.file: cannot read/);
    writeFileSync(join(dir, 'plain.yaml'), `keys:\n  - key: ${KEY_A}\n    tenant: a\n`);
    const plain = parseIdentitySettings({ apiKeys: { file: 'plain.yaml' } }, { baseDir: dir });
    expect(() => createIdentifier(plain, { clock: new ManualTime() })).toThrow(
      /^apiKeys\.file: .*plain\.yaml: keys\[0\]\.key: plaintext keys are not accepted/,
    );
  });
});

describe('over a real node:http server', () => {
  it('sees a second Authorization header that node:http drops, and UTF-8 tenant headers', async () => {
    const time = new ManualTime();
    const config = parseIdentitySettings(full(), { baseDir: dir });
    const id = createIdentifier(config, { clock: time, timers: time });
    open.push(id);
    const server = createServer((request, response) => {
      void Promise.resolve(
        id.identify({ remoteAddress: request.socket.remoteAddress ?? '', headers: request.headers, rawHeaders: request.rawHeaders }),
      ).then((r) => response.end(JSON.stringify({ seen: request.headers.authorization ?? null, r })));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    type Answer = { seen: string | null; r: Identity & IdentityProblem };
    const send = (head: string | Buffer) =>
      new Promise<Answer>((done, fail) => {
        const socket = connect(port, '127.0.0.1');
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            done(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Answer);
          } catch (err) {
            fail(new Error(`unexpected answer ${JSON.stringify(text)}: ${String(err)}`));
          }
        });
        socket.on('error', fail);
        // write, not end: node:http closes a half-closed connection without answering
        socket.write(
          Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'), Buffer.from(head), Buffer.from('\r\n')]),
        );
      });
    try {
      const t = await token(time);
      const dup = await send(`Authorization: Bearer ${t}\r\nAuthorization: Bearer forged\r\n`);
      expect(dup.seen).toBe(`Bearer ${t}`); // node:http kept only the first …
      expect(dup.r).toMatchObject({ status: 400, type: 'ambiguous-credentials' }); // … and we still refuse
      const one = await send(`Authorization: Bearer ${t}\r\n`);
      expect(one.r).toMatchObject({ method: 'jwt', tenant: 'acme', clientIp: '127.0.0.1' });
      const utf8 = await send(
        Buffer.concat([Buffer.from('X-Tenant-Id: '), Buffer.from('租户', 'utf8'), Buffer.from('\r\nX-Forwarded-For: 198.51.100.4\r\n')]),
      );
      expect(utf8.r).toMatchObject({ method: 'trustedHeader', tenant: '租户', clientIp: '198.51.100.4' });
    } finally {
      await new Promise((done) => server.close(done));
    }
  });
});
