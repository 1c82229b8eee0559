import { describe, expect, it } from 'vitest';
import { CACHE_HEADER, CACHE_KEY_HEADER, ageSeconds, missHeaders } from './serve.js';

describe('cache response headers', () => {
  it('names a miss and its key with the cache headers', () => {
    expect(missHeaders('abc')).toEqual({ [CACHE_HEADER]: 'miss', [CACHE_KEY_HEADER]: 'abc' });
  });

  it('counts Age in whole seconds, never below 0', () => {
    expect(ageSeconds(10_999, 10_000)).toBe(0);
    expect(ageSeconds(12_000, 10_000)).toBe(2);
    expect(ageSeconds(9_000, 10_000)).toBe(0);
  });
});
