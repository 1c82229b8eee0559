/**
 * JWKS documents fetched by the gateway from a real HTTP server on loopback: bounded fetches, the
 * last good document kept, early refreshes for unknown key ids at most once per gap, and tokens
 * of an issuer whose document never arrived answered 503 — all on an injected clock.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualTime } from '../clock.js';
import { parseIdentitySettings } from './config.js';
import { createIdentifier, type Identifier } from './identifier.js';
import { JwksRegistry, httpJwksFetch } from './remote.js';

let server: Server;
let base = '';
/** What the server answers next, per path. */
const routes = new Map<string, { status?: number; body?: string; hang?: boolean; redirect?: string }>();
let hits = 0;

let a: { publicKey: CryptoKey; privateKey: CryptoKey };
let b: { publicKey: CryptoKey; privateKey: CryptoKey };
const jwks = async (...keys: [CryptoKey, string][]) =>
  JSON.stringify({ keys: await Promise.all(keys.map(async ([k, kid]) => ({ ...(await exportJWK(k)), kid, alg: 'ES256' }))) });

beforeAll(async () => {
  [a, b] = await Promise.all([generateKeyPair('ES256', { extractable: true }), generateKeyPair('ES256', { extractable: true })]);
  server = createServer((req, res) => {
    hits++;
    const r = routes.get(req.url ?? '') ?? { status: 404, body: 'no' };
    if (r.hang) return; // never answers
    if (r.redirect) {
      res.writeHead(302, { location: r.redirect }).end();
      return;
    }
    res.writeHead(r.status ?? 200, { 'content-type': 'application/json' }).end(r.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const open: Identifier[] = [];
afterEach(() => {
  while (open.length > 0) open.pop()!.close();
  routes.clear();
});

function setup(path: string, refreshInterval = '1m') {
  const time = new ManualTime(Date.UTC(2026, 0, 1));
  const log = { info: vi.fn(), warn: vi.fn() };
  const jwksRegistry = new JwksRegistry({ fetch: httpJwksFetch(time), timers: time, stopwatch: time, log });
  const config = parseIdentitySettings({
    jwt: {
      providers: [
        {
          name: 'idp',
          issuer: 'https://idp.test/',
          audiences: ['api'],
          algorithms: ['ES256'],
          keys: { remote: { uri: `${base}${path}`, refreshInterval, timeout: '2s' } },
        },
      ],
    },
  });
  const id = createIdentifier(config, { clock: time, stopwatch: time, timers: time, log, jwks: jwksRegistry });
  open.push(id);
  return { time, log, id, jwksRegistry };
}

async function token(time: ManualTime, key: CryptoKey, kid: string): Promise<string> {
  const now = Math.floor(time.now() / 1000);
  return new SignJWT({ iss: 'https://idp.test/', aud: 'api', sub: 'u', tenant: 't', exp: now + 600 })
    .setProtectedHeader({ alg: 'ES256', kid })
    .sign(key);
}

const ask = (id: Identifier, t: string) => id.identify({ remoteAddress: '192.0.2.1', headers: { authorization: `Bearer ${t}` } });

describe('remote JWKS', () => {
  it('verifies with the fetched keys, and answers 503 while no document has arrived', async () => {
    routes.set('/first', { status: 500, body: 'down' });
    const { time, id, log } = setup('/first');
    await vi.waitFor(() =>
      expect(log.warn).toHaveBeenCalledWith(
        expect.stringMatching(/tokens of its issuer get 503/),
        expect.objectContaining({ error: 'HTTP 500' }),
      ),
    );
    expect(await ask(id, await token(time, a.privateKey, 'a'))).toMatchObject({ status: 503, type: 'identity-unavailable' });

    routes.set('/first', { body: await jwks([a.publicKey, 'a']) });
    time.advance(60_000); // the next scheduled refresh
    await vi.waitFor(() => expect(log.info).toHaveBeenCalledWith('JWKS fetched', expect.objectContaining({ keys: 1 })));
    expect(await ask(id, await token(time, a.privateKey, 'a'))).toMatchObject({ tenant: 't', method: 'jwt' });
  });

  it('fetches again for a key id it does not know, at most once per gap, and keeps the last document on failures', async () => {
    routes.set('/rotate', { body: await jwks([a.publicKey, 'a']) });
    const { time, id, log } = setup('/rotate', '1m');
    await vi.waitFor(() => expect(log.info).toHaveBeenCalledWith('JWKS fetched', expect.anything()));
    const before = hits;
    const tb = await token(time, b.privateKey, 'b');
    // Rotated at the provider: the unknown kid makes the gateway look again at once.
    routes.set('/rotate', { body: await jwks([a.publicKey, 'a'], [b.publicKey, 'b']) });
    time.advance(6_000); // past the minimum gap (max(1 s, 1 m / 10)) since the first fetch
    expect(await ask(id, tb)).toMatchObject({ method: 'jwt' });
    expect(hits).toBe(before + 1);
    // Another unknown kid within the gap: no fetch, a plain 401.
    const tc = await token(time, b.privateKey, 'c');
    expect(await ask(id, tc)).toMatchObject({ status: 401, detail: 'no configured key has kid "c" for ES256' });
    expect(hits).toBe(before + 1);

    // A broken document keeps the keys it had.
    routes.set('/rotate', { body: '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}' });
    time.advance(60_000);
    await vi.waitFor(() =>
      expect(log.warn).toHaveBeenCalledWith(
        expect.stringMatching(/keeping the last keys/),
        expect.objectContaining({ error: expect.stringMatching(/private or symmetric/) }),
      ),
    );
    expect(await ask(id, tb)).toMatchObject({ method: 'jwt' });
  });

  it('gives up a fetch at its timeout, and refuses redirects and oversized documents', async () => {
    routes.set('/slow', { hang: true });
    const slow = setup('/slow');
    await vi.waitFor(() => expect(hits).toBeGreaterThan(0));
    slow.time.advance(2_000);
    await vi.waitFor(() =>
      expect(slow.log.warn).toHaveBeenCalledWith(
        expect.anything(),
        expect.objectContaining({ error: expect.stringMatching(/no answer within 2000 ms/) }),
      ),
    );

    routes.set('/moved', { redirect: `${base}/slow` });
    const moved = setup('/moved');
    await vi.waitFor(() =>
      expect(moved.log.warn).toHaveBeenCalledWith(expect.anything(), expect.objectContaining({ error: expect.stringMatching(/redirect/) })),
    );

    routes.set('/huge', { body: `{"keys": [], "pad": "${'x'.repeat(1024 * 1024)}"}` });
    const huge = setup('/huge');
    await vi.waitFor(() =>
      expect(huge.log.warn).toHaveBeenCalledWith(
        expect.anything(),
        expect.objectContaining({ error: expect.stringMatching(/larger than 1048576 bytes/) }),
      ),
    );
  });

  it('is shared by configs that name it and stopped when the last lets go', async () => {
    routes.set('/shared', { body: await jwks([a.publicKey, 'a']) });
    const { time, log, jwksRegistry } = setup('/shared');
    await vi.waitFor(() => expect(log.info).toHaveBeenCalledWith('JWKS fetched', expect.anything()));
    const config = parseIdentitySettings({
      jwt: {
        providers: [
          {
            name: 'idp',
            issuer: 'https://idp.test/',
            audiences: ['api'],
            algorithms: ['ES256'],
            keys: { remote: { uri: `${base}/shared`, refreshInterval: '1m', timeout: '2s' } },
          },
        ],
      },
    });
    const second = createIdentifier(config, { clock: time, stopwatch: time, timers: time, log, jwks: jwksRegistry });
    expect(jwksRegistry.size).toBe(1);
    // The second config verifies at once: the document is already there.
    expect(await ask(second, await token(time, a.privateKey, 'a'))).toMatchObject({ method: 'jwt' });
    open.pop()!.close();
    expect(jwksRegistry.size).toBe(1);
    second.close();
    expect(jwksRegistry.size).toBe(0);
    expect(time.pending()).toBe(0);
  });
});
