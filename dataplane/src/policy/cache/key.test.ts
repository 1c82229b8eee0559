import type { CacheIR } from '@jarvis/api';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_INLINE_KEY, compileKey, keyId, serialized, sortedQuery, type KeyOf, type KeyedRequest } from './key.js';

function ir(key: Partial<CacheIR['key']> = {}): CacheIR {
  return {
    namespace: 'ns/cache',
    ttlMs: 60_000,
    methods: ['GET', 'HEAD', 'POST'],
    statuses: [200],
    key: { query: 'All', headers: [], body: true, isolation: 'None', ...key },
    maxBodyBytes: 1 << 20,
    respectCacheControl: true,
    l1: { maxEntries: 100, maxBytes: 1 << 20, ttlMs: 60_000 },
    l2: { enabled: false, ttlMs: 60_000 },
    coalescing: { enabled: true, maxWaitMs: 5000, acrossReplicas: false },
    invalidation: { tagsHeader: 'x-cache-tags', maxTagsPerEntry: 8, crossInstance: true },
    source: { kind: 'CachePolicy', namespace: 'ns', name: 'cache', generation: 1 },
  };
}

function req(r: Partial<KeyedRequest> & { headers?: Record<string, string> } = {}): KeyedRequest {
  const headers = r.headers ?? {};
  const body = r.body;
  return {
    method: 'POST',
    path: '/v1/chat',
    query: '',
    user: 'alice',
    tenant: 'acme',
    body,
    bodyJson: r.bodyJson,
    hasBody: body !== undefined,
    header: (name) => headers[name],
    ...r,
  };
}

const json = (v: unknown): Partial<KeyedRequest> => ({ body: Buffer.from(JSON.stringify(v)), bodyJson: v, hasBody: true });

describe('cache keys', () => {
  it('are stable, and their ids 43 base64url characters', () => {
    const k = compileKey(ir(), 'ns/r/rule-0')(req(json({ a: 1 })));
    expect(keyId(k ?? '')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(compileKey(ir(), 'ns/r/rule-0')(req(json({ a: 1 })))).toBe(k);
  });

  it('count method, route, path, body and query (sorted), and the selected headers', () => {
    const keyOf = compileKey(ir({ headers: ['accept-language'] }), 'ns/r/rule-0');
    const base = keyOf(req({ ...json({ q: 1 }), query: 'b=2&a=1', headers: { 'accept-language': 'en' } }));
    expect(keyOf(req({ ...json({ q: 1 }), query: 'a=1&b=2', headers: { 'accept-language': 'en' } }))).toBe(base);
    const variants = [
      keyOf(req({ ...json({ q: 1 }), method: 'GET', query: 'a=1&b=2', headers: { 'accept-language': 'en' } })),
      compileKey(
        ir({ headers: ['accept-language'] }),
        'ns/other/rule-0',
      )(req({ ...json({ q: 1 }), query: 'a=1&b=2', headers: { 'accept-language': 'en' } })),
      keyOf(req({ ...json({ q: 1 }), path: '/v1/other', query: 'a=1&b=2', headers: { 'accept-language': 'en' } })),
      keyOf(req({ ...json({ q: 2 }), query: 'a=1&b=2', headers: { 'accept-language': 'en' } })),
      keyOf(req({ ...json({ q: 1 }), query: 'a=1&b=3', headers: { 'accept-language': 'en' } })),
      keyOf(req({ ...json({ q: 1 }), query: 'a=1&b=2', headers: { 'accept-language': 'de' } })),
      keyOf(req({ ...json({ q: 1 }), query: 'a=1&b=2' })),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('ignore the query with query: None, and headers that are not selected', () => {
    const keyOf = compileKey(ir({ query: 'None' }), 'r');
    expect(keyOf(req({ query: 'a=1', headers: { x: '1' } }))).toBe(keyOf(req({ query: 'a=2', headers: { x: '2' } })));
  });

  it('a header sent empty differs from one not sent', () => {
    const keyOf = compileKey(ir({ headers: ['x-v'] }), 'r');
    expect(keyOf(req({ headers: { 'x-v': '' } }))).not.toBe(keyOf(req({})));
  });

  it('User isolation: one key per verified user; none without a user', () => {
    const keyOf = compileKey(ir({ isolation: 'User' }), 'r');
    const alice = keyOf(req({ ...json({ q: 1 }), user: 'alice' }));
    const bob = keyOf(req({ ...json({ q: 1 }), user: 'bob' }));
    expect(alice).toBeDefined();
    expect(alice).not.toBe(bob);
    expect(keyOf(req({ ...json({ q: 1 }), user: undefined }))).toBeUndefined();
    expect(keyOf(req({ ...json({ q: 1 }), user: '' }))).toBeUndefined();
    // The same user id in two tenants is two users.
    expect(keyOf(req({ ...json({ q: 1 }), tenant: 'other' }))).not.toBe(alice);
    // Tenant and user stay apart: no concatenation of two ids poses as another pair.
    expect(keyOf(req({ tenant: 'a:b', user: 'c' }))).not.toBe(keyOf(req({ tenant: 'a', user: 'b:c' })));
  });

  it('Tenant isolation: users of a tenant share, tenants do not; none without a tenant', () => {
    const keyOf = compileKey(ir({ isolation: 'Tenant' }), 'r');
    expect(keyOf(req({ user: 'alice' }))).toBe(keyOf(req({ user: 'bob' })));
    expect(keyOf(req({ tenant: 'acme' }))).not.toBe(keyOf(req({ tenant: 'globex' })));
    expect(keyOf(req({ tenant: undefined }))).toBeUndefined();
  });

  it('None: every caller shares, with or without an identity', () => {
    const keyOf = compileKey(ir({ isolation: 'None' }), 'r');
    expect(keyOf(req({ user: 'alice', tenant: 'acme' }))).toBe(keyOf(req({ user: undefined, tenant: undefined })));
  });

  it('a body that was not read cannot be keyed; field order in a JSON body does not matter', () => {
    const keyOf = compileKey(ir(), 'r');
    expect(keyOf(req({ body: undefined, hasBody: true }))).toBeUndefined();
    expect(keyOf(req({ body: Buffer.from('{"a":1,"b":2}'), bodyJson: { a: 1, b: 2 }, hasBody: true }))).toBe(
      keyOf(req({ body: Buffer.from('{"b":2,"a":1}'), bodyJson: { b: 2, a: 1 }, hasBody: true })),
    );
    // key.body false: the body is not part of the key.
    const noBody = compileKey(ir({ body: false }), 'r');
    expect(noBody(req(json({ q: 1 })))).toBe(noBody(req(json({ q: 2 }))));
  });

  it('sortedQuery sorts by name and keeps repeated names', () => {
    expect(sortedQuery('b=2&a=1&a=0')).toBe('a=1&a=0&b=2');
    expect(sortedQuery('')).toBe('');
  });
});

describe('the two forms of a key', () => {
  it('the identity is the serialized parts up to MAX_INLINE_KEY characters; the id is their SHA-256', () => {
    const keyOf = compileKey(ir({ headers: ['x-v'] }), 'ns/r/rule-0');
    const short = keyOf(req({ method: 'GET', path: '/p', query: 'a=1', headers: { 'x-v': 'v' } })) ?? '';
    expect(short).toBe(serialized(['GET', 'ns/r/rule-0', '/p', 'a=1', 'none', null, null, '', 'v']));
    expect(keyId(short)).toBe(createHash('sha256').update(short, 'utf8').digest('base64url'));
  });

  it('a longer identity is `#` and the SHA-256 of the parts, whose id it then carries; both bounded whatever the request holds', () => {
    const keyOf = compileKey(ir({ headers: ['x-v'] }), 'ns/r/rule-0');
    const parts = (v: string): (string | null)[] => ['GET', 'ns/r/rule-0', '/p', '', 'none', null, null, '', v];
    const long = (v: string): string => keyOf(req({ method: 'GET', path: '/p', headers: { 'x-v': v } })) ?? '';
    const big = 'x'.repeat(10_000);
    expect(long(big)).toBe(
      '#' +
        createHash('sha256')
          .update(serialized(parts(big)), 'utf8')
          .digest('base64url'),
    );
    expect(keyId(long(big))).toBe(long(big).slice(1));
    expect(long(big + 'y')).not.toBe(long(big));
    // At the bound, inline; one character over, hashed.
    const room = MAX_INLINE_KEY - serialized(parts('')).length;
    const fits = 'z'.repeat(room - String(room).length + 1);
    expect(long(fits)).toBe(serialized(parts(fits)));
    expect(long(fits).length).toBe(MAX_INLINE_KEY);
    expect(long(fits + 'z')).toMatch(/^#[A-Za-z0-9_-]{43}$/);
  });
});

describe('keys across versions', () => {
  // Redis holds entries under these keys, shared by the gateways of a rolling upgrade: a key
  // computed differently would be a cold cache, so the same request must keep its key.
  const pinned = (isolation: CacheIR['key']['isolation']): KeyOf =>
    compileKey(ir({ headers: ['accept-language', 'x-b'], isolation }), 'ns/r/rule-0');
  const get = (r: Partial<KeyedRequest> & { headers?: Record<string, string> } = {}): KeyedRequest =>
    req({ method: 'GET', path: '/v1/x', query: 'b=2&a=1', ...r });

  it('are what they were for every scope, method, header, body and a lone surrogate', () => {
    const id =
      (keyOf: KeyOf) =>
      (r: KeyedRequest): string =>
        keyId(keyOf(r) ?? '');
    const none = id(pinned('None'));
    expect(none(get())).toBe('Qu9rBkB12-ytSDkX1wuAGOmY07m2FPrhzQifyXnmF4c');
    expect(none(get({ method: 'POST', headers: { 'accept-language': 'en' } }))).toBe('uxlPdI-xI01rpfracngs2lxvA_Xz1dsyrmY6WQv3qrY');
    expect(none(get({ method: 'HEAD', path: '/\u00fc' }))).toBe('osPqruAMo4GZsuPUo9lDZeEudJvcnVsyJ9pW1D8VCxI');
    expect(none(get())).toBe('Qu9rBkB12-ytSDkX1wuAGOmY07m2FPrhzQifyXnmF4c'); // after other methods
    const tenant = id(pinned('Tenant'));
    expect(tenant(get({ headers: { 'x-b': '' }, user: 'eve\ud800' }))).toBe('geovfVuHoL1wPeuzbdsS_jx0ZnXwY1rtlK418kSjMMM');
    expect(tenant(get({ query: '', ...json({ b: 1, a: 2 }), method: 'GET' }))).toBe('kc3EseycVajh_ZZZkavpNPUl4SUIkS3BgWnYKE96kI8');
    const user = id(pinned('User'));
    expect(user(get())).toBe('ou_-kQTDY-tfV2YVLmChRrcaQ22bMipkOB2pytd-14U');
    expect(user(get({ headers: { 'x-b': '' }, user: 'eve\ud800' }))).toBe('UfXrrwEHGHJKnXDXde9aWpWFJUdUxjC8AoQn2c915Ng');
  });
});

describe('the serialized parts', () => {
  it('tell apart parts that would run together', () => {
    const cases: (string | null)[][] = [
      ['a:b', ''],
      ['a', ':b'],
      ['a', null],
      ['a', ''],
      ['a', '-'],
      ['a-', null],
      ['1:a', null],
      [null, '1:a'],
      ['', ''],
      [null, null],
    ];
    expect(new Set(cases.map(serialized)).size).toBe(cases.length);
  });

  it('keep a lone surrogate apart from U+FFFD, which UTF-8 would make the same bytes', () => {
    const keyOf = compileKey(ir({ isolation: 'User' }), 'r');
    const lone = keyOf(req({ user: 'eve\ud800' })) ?? '';
    const replaced = keyOf(req({ user: 'eve\ufffd' })) ?? '';
    expect(lone).not.toBe(replaced);
    expect(keyId(lone)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(keyId(lone)).not.toBe(keyId(replaced));
    expect(serialized(['eve\ud800'])).toBe('["eve\\ud800"]');
  });

  it('in whichever part the surrogate is: path, query, a header, the tenant or the user', () => {
    const keyOf = compileKey(ir({ isolation: 'User', headers: ['x-v'] }), 'r');
    const variants: ((c: string) => Partial<KeyedRequest> & { headers?: Record<string, string> })[] = [
      (c) => ({ path: `/a${c}` }),
      (c) => ({ query: `q=${c}` }),
      (c) => ({ headers: { 'x-v': c } }),
      (c) => ({ tenant: `t${c}` }),
      (c) => ({ user: `u${c}` }),
    ];
    for (const v of variants) {
      const lone = keyOf(req(v('\udc01'))) ?? '';
      const replaced = keyOf(req(v('\ufffd'))) ?? '';
      expect(keyId(lone)).not.toBe(keyId(replaced));
    }
  });
});
