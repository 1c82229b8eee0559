import { describe, expect, it } from 'vitest';
import { UpstreamHead } from '../../proxy/headers.js';
import { ownedCopy, packHeaders, packable, storedPairs, unpackHeaders } from './entry.js';

/** Every byte value, so a round trip through a latin1 string is shown to be exact. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('stored headers packed in one string', () => {
  it('unpacks to the same headers: lower-case names, repeated ones as lists', () => {
    const pairs = storedPairs(UpstreamHead.of({ 'Content-Type': 'text/plain', 'X-Multi': ['a', 'b'] }));
    expect(pairs).toEqual(['content-type', 'text/plain', 'x-multi', 'a', 'x-multi', 'b']);
    expect(unpackHeaders(packHeaders(pairs))).toEqual({ 'content-type': 'text/plain', 'x-multi': ['a', 'b'] });
    expect(unpackHeaders(packHeaders([]))).toEqual({});
  });

  it('is refused for a value that holds its separator', () => {
    expect(packable(['x-odd', 'a\nb'])).toBe(false);
    expect(packable(['x-fine', 'a b'])).toBe(true);
  });
});

describe('a body of its own', () => {
  it('copies what the network gave into a buffer of its own', () => {
    const slab = Buffer.alloc(64 * 1024);
    ALL_BYTES.copy(slab, 1000);
    const body = ownedCopy([slab.subarray(1000, 1100), slab.subarray(1100, 1256)], 256);
    expect(body.equals(ALL_BYTES)).toBe(true);
    expect(body.buffer).not.toBe(slab.buffer);
    expect(body.buffer.byteLength).toBe(256);
  });
});
