import { describe, expect, it } from 'vitest';
import { UpstreamHead } from '../../proxy/headers.js';
import { SMALL_BODY_BYTES, ownedBody, packable, packedText, storedPairs, unpackHeaders } from './entry.js';

/** Every byte value, so a round trip through a latin1 string is shown to be exact. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('stored headers and a small body packed in one string', () => {
  it('puts the body last, after the names and values, and says where it starts', () => {
    const pairs = storedPairs(UpstreamHead.of({ 'Content-Type': 'text/plain', 'X-Multi': ['a', 'b'] }));
    expect(pairs).toEqual(['content-type', 'text/plain', 'x-multi', 'a', 'x-multi', 'b']);
    const { text, bodyAt } = packedText([...pairs], 'line one\nline two');
    expect(text.slice(bodyAt)).toBe('line one\nline two');
    expect(unpackHeaders(text.slice(0, bodyAt - 1))).toEqual({ 'content-type': 'text/plain', 'x-multi': ['a', 'b'] });
  });

  it('starts the body at 0 when there are no headers, and marks a body kept apart with -1', () => {
    expect(packedText([], 'hello')).toEqual({ text: 'hello', bodyAt: 0 });
    expect(packedText(['etag', '"v1"'], undefined)).toEqual({ text: 'etag\n"v1"', bodyAt: -1 });
    expect(unpackHeaders('')).toEqual({});
  });

  it('is refused for a value that holds its separator', () => {
    expect(packable(['x-odd', 'a\nb'])).toBe(false);
    expect(packable(['x-fine', 'a b'])).toBe(true);
  });
});

describe('a body of its own', () => {
  it('keeps a small body as a string that gives back every byte', () => {
    const slab = Buffer.alloc(64 * 1024);
    ALL_BYTES.copy(slab, 1000);
    const parts = [slab.subarray(1000, 1100), slab.subarray(1100, 1256)];
    const body = ownedBody(parts, 256);
    expect(body).toBeTypeOf('string');
    expect(Buffer.from(body as string, 'latin1').equals(ALL_BYTES)).toBe(true);
  });

  it('keeps a larger body as a copied buffer', () => {
    const big = Buffer.alloc(SMALL_BODY_BYTES + 1, 7);
    const body = ownedBody([big.subarray(0, 10), big.subarray(10)], big.length);
    expect(Buffer.isBuffer(body)).toBe(true);
    expect((body as Buffer).equals(big)).toBe(true);
    expect((body as Buffer).buffer).not.toBe(big.buffer);
  });
});
