import { describe, expect, it } from 'vitest';
import { CACHE_DEBUG_HEADER, CACHE_HEADER, CACHE_KEY_HEADER, ageSeconds, missHeaders, wantsKey } from './serve.js';

describe('cache response headers', () => {
  it('names a miss, and its key when given, with the cache headers', () => {
    expect(missHeaders('abc')).toEqual({ [CACHE_HEADER]: 'miss', [CACHE_KEY_HEADER]: 'abc' });
    expect(missHeaders()).toEqual({ [CACHE_HEADER]: 'miss' });
  });

  it('shows the key to a request whose x-jarvis-cache-debug lists `key`, in any case', () => {
    for (const v of ['key', 'KEY', ' trace , Key ', 'a,key']) expect(wantsKey({ [CACHE_DEBUG_HEADER]: v })).toBe(true);
    for (const v of [undefined, '', 'keys', 'trace', 'k e y', 'key;x']) expect(wantsKey({ [CACHE_DEBUG_HEADER]: v })).toBe(false);
  });

  it('counts Age in whole seconds, never below 0', () => {
    expect(ageSeconds(10_999, 10_000)).toBe(0);
    expect(ageSeconds(12_000, 10_000)).toBe(2);
    expect(ageSeconds(9_000, 10_000)).toBe(0);
  });
});
