import type { CacheIR } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { UpstreamHead } from '../../proxy/headers.js';
import { directives, requestRules, responseFacts, responseTags, uncacheableReason } from './cacheable.js';

const IR = {
  statuses: [200, 203],
  maxBodyBytes: 1000,
  respectCacheControl: true,
  key: { query: 'All', headers: ['accept-language'], body: false, isolation: 'User' },
} as unknown as CacheIR;

const facts = (headers: Record<string, string | string[]>): ReturnType<typeof responseFacts> =>
  responseFacts(UpstreamHead.of(headers), 'x-cache-tags');

describe('what may be cached', () => {
  it('parses Cache-Control directives, lower case, with arguments', () => {
    expect([...directives('No-Store, max-age="60", private=x')]).toEqual([
      ['no-store', ''],
      ['max-age', '60'],
      ['private', 'x'],
    ]);
    expect(directives(['a', 'b=1']).get('b')).toBe('1');
  });

  it("a client's no-cache skips the lookup; no-store skips the store", () => {
    expect(requestRules(true, undefined, undefined)).toEqual({ lookup: true, store: true });
    expect(requestRules(true, 'no-cache', undefined)).toEqual({ lookup: false, store: true });
    expect(requestRules(true, 'max-age=0', undefined)).toEqual({ lookup: false, store: true });
    expect(requestRules(true, 'no-store', undefined)).toEqual({ lookup: true, store: false });
    expect(requestRules(true, undefined, 'no-cache')).toEqual({ lookup: false, store: true });
    expect(requestRules(false, 'no-cache, no-store', undefined)).toEqual({ lookup: true, store: true });
  });

  it('reads the facts of a head in one pass: names in any case, repeated values joined, the tags header by name', () => {
    expect(
      facts({
        'Content-Length': '5',
        'SET-COOKIE': 'a=1',
        Vary: ['a', 'b'],
        'cache-control': 'max-age=1',
        'X-Cache-Tags': ['t1', 't2'],
        Age: '1',
        other: 'x',
      }),
    ).toEqual({ contentLength: '5', setCookie: true, vary: 'a, b', cacheControl: 'max-age=1', tags: 't1, t2' });
    expect(facts({ 'x-cache-tagz': 't' })).toEqual({
      contentLength: undefined,
      setCookie: false,
      vary: undefined,
      cacheControl: undefined,
      tags: undefined,
    });
  });

  it('stores only the policy’s statuses, sizes, and what the upstream allows', () => {
    expect(uncacheableReason(IR, 200, facts({}))).toBeUndefined();
    expect(uncacheableReason(IR, 203, facts({ 'cache-control': 'public, max-age=60' }))).toBeUndefined();
    expect(uncacheableReason(IR, 500, facts({}))).toBe('status');
    expect(uncacheableReason(IR, 200, facts({ 'content-length': '1001' }))).toBe('size');
    expect(uncacheableReason(IR, 200, facts({ 'set-cookie': ['a=1'] }))).toBe('set-cookie');
    for (const cc of ['no-store', 'private', 'no-cache', 'Private="x"'])
      expect(uncacheableReason(IR, 200, facts({ 'cache-control': cc }))).toBe('cache-control');
    expect(uncacheableReason({ ...IR, respectCacheControl: false }, 200, facts({ 'cache-control': 'no-store' }))).toBeUndefined();
    // Every line of a repeated header counts, whatever the case of its name.
    expect(uncacheableReason(IR, 200, facts({ 'Cache-Control': ['max-age=60', 'private'] }))).toBe('cache-control');
    expect(uncacheableReason(IR, 200, facts({ 'Set-Cookie': 'a=1' }))).toBe('set-cookie');
  });

  it('Vary must name only headers of the key', () => {
    expect(uncacheableReason(IR, 200, facts({ vary: 'Accept-Language' }))).toBeUndefined();
    expect(uncacheableReason(IR, 200, facts({ vary: 'accept-encoding' }))).toBe('vary');
    expect(uncacheableReason(IR, 200, facts({ vary: '*' }))).toBe('vary');
  });

  it('reads tags, refusing odd ones and more than the bound', () => {
    expect(responseTags(undefined, 8)).toEqual([]);
    expect(responseTags(' doc:1, kb/faq ,doc:1,', 8)).toEqual(['doc:1', 'kb/faq']);
    expect(responseTags('a,b,c', 2)).toBeUndefined();
    expect(responseTags('#all', 8)).toBeUndefined(); // pseudo-tags cannot be claimed by an upstream
    expect(responseTags('x'.repeat(129), 8)).toBeUndefined();
    expect(responseTags('a b', 8)).toBeUndefined();
  });
});
