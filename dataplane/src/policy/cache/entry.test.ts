import { describe, expect, it } from 'vitest';
import { UpstreamHead } from '../../proxy/headers.js';
import {
  ENTRY_OVERHEAD_BYTES,
  PackedResponse,
  SMALL_BODY_BYTES,
  decodeMeta,
  encodeMeta,
  entrySize,
  ownedBody,
  packedHeaders,
  storedHeaders,
} from './entry.js';

/** Every byte value, so a round trip through a latin1 string is shown to be exact. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('stored headers packed in one string', () => {
  const head = (): UpstreamHead =>
    UpstreamHead.of({
      'X-Early': 'dropped: named by Connection, which comes later',
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Multi': ['one', 'two'],
      ETag: '"v1"',
      Connection: 'keep-alive, X-Hop, x-early',
      'Set-Cookie': 'a=1',
      'x-hop': 'dropped: named by Connection',
      'Content-Length': '12',
      'Transfer-Encoding': 'chunked',
      'Keep-Alive': 'timeout=5',
      Age: '3',
      'x-jarvis-cache': 'hit-l1',
      Date: 'Fri, 04 Dec 2026 01:05:41 GMT',
    });

  it('unpacks to exactly what storedHeaders keeps: lower-case names, repeated ones as lists', () => {
    const packed = packedHeaders(head());
    expect(packed).toBeTypeOf('string');
    const r = new PackedResponse(200, packed as string, 'body', 0, 1, []);
    expect(r.headers).toEqual(storedHeaders(head()));
    expect(r.headers).toEqual({
      'content-type': 'text/plain; charset=utf-8',
      'x-multi': ['one', 'two'],
      etag: '"v1"',
      date: 'Fri, 04 Dec 2026 01:05:41 GMT',
    });
  });

  it("keeps a HEAD answer's Content-Length, like storedHeaders", () => {
    const r = new PackedResponse(200, packedHeaders(head(), true) as string, '', 0, 1, []);
    expect(r.headers).toEqual(storedHeaders(head(), true));
    expect(r.headers['content-length']).toBe('12');
  });

  it('is not used when a value holds its separator (the object form is stored instead)', () => {
    expect(packedHeaders(UpstreamHead.of({ 'x-odd': 'a\nb' }))).toBeUndefined();
  });

  it('packs no headers as the empty string, which unpacks to none', () => {
    const packed = packedHeaders(UpstreamHead.of({ connection: 'keep-alive' }));
    expect(packed).toBe('');
    expect(new PackedResponse(204, '', '', 0, 1, []).headers).toEqual({});
  });
});

describe('a body of its own', () => {
  it('keeps a small body as a string that gives back every byte, in a buffer of its own', () => {
    const slab = Buffer.alloc(64 * 1024);
    ALL_BYTES.copy(slab, 1000);
    const parts = [slab.subarray(1000, 1100), slab.subarray(1100, 1256)];
    const body = ownedBody(parts, 256);
    expect(body).toBeTypeOf('string');
    const r = new PackedResponse(200, '', body, 0, 1, []);
    expect(r.bodyBytes).toBe(256);
    expect(r.body.equals(ALL_BYTES)).toBe(true);
    // Not a view of the network's buffer, nor of a shared pool slab.
    expect(r.body.buffer.byteLength).toBe(256);
    expect(r.body).toBe(r.body); // made once
  });

  it('keeps a larger body as a copied buffer', () => {
    const big = Buffer.alloc(SMALL_BODY_BYTES + 1, 7);
    const body = ownedBody([big.subarray(0, 10), big.subarray(10)], big.length);
    expect(Buffer.isBuffer(body)).toBe(true);
    expect((body as Buffer).equals(big)).toBe(true);
    expect((body as Buffer).buffer).not.toBe(big.buffer);
  });
});

describe('a packed answer elsewhere', () => {
  it('counts in L1 what it holds: body, packed headers, tags and the overhead', () => {
    const packed = packedHeaders(UpstreamHead.of({ 'content-type': 'text/plain' })) as string;
    const r = new PackedResponse(200, packed, 'hello', 0, 1, ['doc:1']);
    expect(entrySize(r)).toBe(ENTRY_OVERHEAD_BYTES + 5 + packed.length + 'doc:1'.length + 8);
    // Within a few bytes (the separators) of the same answer with its headers as an object.
    const plain = {
      status: 200,
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from('hello'),
      storedAt: 0,
      freshUntil: 1,
      tags: ['doc:1'],
    };
    expect(entrySize(r) - entrySize(plain)).toBe(1);
  });

  it('travels to the Redis level and back as the same answer', () => {
    const packed = packedHeaders(UpstreamHead.of({ 'content-type': 'application/octet-stream', 'x-multi': ['a', 'b'] })) as string;
    const r = new PackedResponse(203, packed, ALL_BYTES.toString('latin1'), 10, 20, ['t']);
    const back = decodeMeta(encodeMeta(r), r.body);
    expect(back).toEqual({ status: 203, headers: r.headers, body: ALL_BYTES, storedAt: 10, freshUntil: 20, tags: ['t'] });
  });
});
