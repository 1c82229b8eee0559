import type { CacheIR } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { directives, requestRules, responseTags, uncacheableReason } from './cacheable.js';

const IR = {
  statuses: [200, 203],
  maxBodyBytes: 1000,
  respectCacheControl: true,
  key: { query: 'All', headers: ['accept-language'], body: false, isolation: 'User' },
} as unknown as CacheIR;

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

  it('stores only the policy’s statuses, sizes, and what the upstream allows', () => {
    expect(uncacheableReason(IR, 200, {})).toBeUndefined();
    expect(uncacheableReason(IR, 203, { 'cache-control': 'public, max-age=60' })).toBeUndefined();
    expect(uncacheableReason(IR, 500, {})).toBe('status');
    expect(uncacheableReason(IR, 200, { 'content-length': '1001' })).toBe('size');
    expect(uncacheableReason(IR, 200, { 'set-cookie': ['a=1'] })).toBe('set-cookie');
    for (const cc of ['no-store', 'private', 'no-cache', 'Private="x"'])
      expect(uncacheableReason(IR, 200, { 'cache-control': cc })).toBe('cache-control');
    expect(uncacheableReason({ ...IR, respectCacheControl: false }, 200, { 'cache-control': 'no-store' })).toBeUndefined();
  });

  it('Vary must name only headers of the key', () => {
    expect(uncacheableReason(IR, 200, { vary: 'Accept-Language' })).toBeUndefined();
    expect(uncacheableReason(IR, 200, { vary: 'accept-encoding' })).toBe('vary');
    expect(uncacheableReason(IR, 200, { vary: '*' })).toBe('vary');
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
