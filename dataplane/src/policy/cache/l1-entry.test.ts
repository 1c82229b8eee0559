import { describe, expect, it } from 'vitest';
import { UpstreamHead } from '../../proxy/headers.js';
import { ENTRY_OVERHEAD_BYTES, decodeMeta, encodeMeta, entrySize, storedHeaders, storedPairs } from './entry.js';
import { keyId } from './key.js';
import { keyHash } from './key-table.js';
import { KEY_IN_OVERHEAD, L1Entry, type UpstreamAnswer } from './l1-entry.js';

/** Every byte value, so a round trip through a latin1 string is shown to be exact. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const NOW = 1_796_000_000_123;

function answer(head: UpstreamHead, body: Buffer[], over: Partial<UpstreamAnswer> = {}, keepLength = false): L1Entry {
  const a = upstream(head, body, over, keepLength);
  const e = new L1Entry();
  e.fill(a, keyHash(a.key));
  return e;
}

function upstream(head: UpstreamHead, body: Buffer[], over: Partial<UpstreamAnswer> = {}, keepLength = false): UpstreamAnswer {
  return {
    key: 'k1',
    status: 200,
    pairs: storedPairs(head, keepLength),
    chunks: body,
    bodySize: body.reduce((n, b) => n + b.length, 0),
    tags: [],
    seq: 3,
    storedAt: NOW,
    responseFreshUntil: NOW + 60_000,
    freshUntil: NOW + 10_000,
    keepUntil: NOW + 70_000,
    ...over,
  };
}

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

describe('an L1 entry from an upstream answer', () => {
  it('gives back exactly what storedHeaders keeps and every byte of the body', () => {
    const slab = Buffer.alloc(64 * 1024);
    ALL_BYTES.copy(slab, 1000);
    const e = answer(head(), [slab.subarray(1000, 1100), slab.subarray(1100, 1256)]);
    const r = e.response;
    expect(r.status).toBe(200);
    expect(r.headers).toEqual(storedHeaders(head()));
    expect(r.headers).toEqual({
      'content-type': 'text/plain; charset=utf-8',
      'x-multi': ['one', 'two'],
      etag: '"v1"',
      date: 'Fri, 04 Dec 2026 01:05:41 GMT',
    });
    expect(r.body.equals(ALL_BYTES)).toBe(true);
    // Not a view of the network's buffer, nor of a shared pool slab.
    expect(r.body.buffer.byteLength).toBe(256);
    expect(e.response).toBe(r); // made once
  });

  it("keeps a HEAD answer's Content-Length, like storedHeaders", () => {
    const r = answer(head(), [], {}, true).response;
    expect(r.headers).toEqual(storedHeaders(head(), true));
    expect(r.headers['content-length']).toBe('12');
    expect(r.body.length).toBe(0);
  });

  it('holds no headers and a body with line feeds', () => {
    const r = answer(UpstreamHead.of({ connection: 'keep-alive' }), [Buffer.from('a\nb\n')]).response;
    expect(r.headers).toEqual({});
    expect(r.body.toString()).toBe('a\nb\n');
  });

  it('holds a large body, and an answer whose header value holds a line feed as an object', () => {
    const big = Buffer.alloc(256 * 1024, 7);
    const large = answer(UpstreamHead.of({ etag: '"x"' }), [big.subarray(0, 1000), big.subarray(1000)]);
    expect(large.response.body.equals(big)).toBe(true);
    expect(large.response.headers).toEqual({ etag: '"x"' });
    const odd = answer(UpstreamHead.of({ 'x-odd': 'a\nb' }), [Buffer.from('hi')]);
    expect(odd.response.headers).toEqual({ 'x-odd': 'a\nb' });
    expect(odd.response.body.toString()).toBe('hi');
    expect(odd.size).toBe(entrySize(odd.response));
  });

  it('counts what it holds: its bytes (headers and body), tags and the overhead, as the same answer as an object', () => {
    const e = answer(UpstreamHead.of({ 'content-type': 'text/plain' }), [Buffer.from('hello')], { tags: ['doc:1'] });
    const packed = 'content-type\ntext/plain';
    expect(e.size).toBe(ENTRY_OVERHEAD_BYTES + packed.length + 'hello'.length + 'doc:1'.length + 8);
    // Within the separator of the same answer with its headers as an object.
    expect(e.size - entrySize(e.response)).toBe(1);
  });

  it('counts a key longer than the overhead covers, and gives its id (key.ts) for it, made once per fill', () => {
    const short = answer(UpstreamHead.of({}), [Buffer.from('x')], { key: 'k'.repeat(KEY_IN_OVERHEAD) });
    const long = answer(UpstreamHead.of({}), [Buffer.from('x')], { key: 'k'.repeat(KEY_IN_OVERHEAD + 100) });
    expect(long.size - short.size).toBe(100);
    expect(long.id).toBe(keyId(long.key));
    expect(long.id).toBe(long.id);
    long.release();
    long.fill(upstream(UpstreamHead.of({}), [Buffer.from('y')], { key: 'other' }), 1);
    expect(long.id).toBe(keyId('other'));
  });

  it('is refilled with another answer, in the buffer it had when that fits; what was read of the first stays as it was', () => {
    const e = answer(UpstreamHead.of({ 'content-type': 'text/plain' }), [Buffer.from('first answer')], { key: 'a' });
    expect(e.size).toBe(ENTRY_OVERHEAD_BYTES + 'content-type\ntext/plain'.length + 'first answer'.length);
    e.release();
    e.fill(
      upstream(UpstreamHead.of({ 'content-type': 'text/html' }), [Buffer.from('second answ')], {
        key: 'b',
        status: 201,
        tags: ['t'],
        seq: 9,
      }),
      5,
    );
    expect([e.key, e.keyHash, e.status, e.seq, e.tags]).toEqual(['b', 5, 201, 9, ['t']]);
    // The first answer's buffer (35 bytes, 33 needed) is reused, and counted as it is.
    expect(e.size).toBe(ENTRY_OVERHEAD_BYTES + 35 + 't'.length + 8);
    const second = e.response;
    expect(second.body.toString()).toBe('second answ');
    expect(second.headers).toEqual({ 'content-type': 'text/html' });
    // Read, the entry keeps the object instead of the buffer: the next fill makes one of the answer's size.
    e.release();
    e.fill(upstream(UpstreamHead.of({}), [Buffer.from('third')]), 6);
    expect(e.size).toBe(ENTRY_OVERHEAD_BYTES + 5);
    expect(e.response).not.toBe(second);
    expect(e.response.body.toString()).toBe('third');
    expect(second.body.toString()).toBe('second answ');
    expect(second.headers).toEqual({ 'content-type': 'text/html' });
    // A buffer more than twice as large as an answer (and 256 bytes) is not kept for it.
    e.fill(upstream(UpstreamHead.of({}), [Buffer.alloc(2000)]), 7);
    expect(e.size).toBe(ENTRY_OVERHEAD_BYTES + 2000);
    e.fill(upstream(UpstreamHead.of({}), [Buffer.from('tiny')]), 8);
    expect(e.size).toBe(ENTRY_OVERHEAD_BYTES + 4);
    expect(e.response.body.toString()).toBe('tiny');
  });

  it('keeps its times exactly: when stored, fresh in L1, kept, and the answer’s own freshness', () => {
    for (const at of [NOW, 0, 2 ** 31 + 0.5, 2 ** 40 - 1, 123.25]) {
      const e = answer(UpstreamHead.of({}), [], {
        storedAt: at,
        responseFreshUntil: at + 60_000,
        freshUntil: at + 10_000,
        keepUntil: at + 70_000,
      });
      expect([e.storedAt, e.freshUntil, e.keepUntil]).toEqual([at, at + 10_000, at + 70_000]);
      expect([e.response.storedAt, e.response.freshUntil]).toEqual([at, at + 60_000]);
    }
  });

  it('travels to the Redis level and back as the same answer', () => {
    const e = answer(UpstreamHead.of({ 'content-type': 'application/octet-stream', 'x-multi': ['a', 'b'] }), [ALL_BYTES], {
      status: 203,
      tags: ['t'],
    });
    const r = e.response;
    const back = decodeMeta(encodeMeta(r), r.body);
    expect(back).toEqual({
      status: 203,
      headers: { 'content-type': 'application/octet-stream', 'x-multi': ['a', 'b'] },
      body: ALL_BYTES,
      storedAt: NOW,
      freshUntil: NOW + 60_000,
      tags: ['t'],
    });
  });
});

describe('an L1 entry from an answer held as an object', () => {
  it('keeps that object, and the L1 times beside it', () => {
    const response = { status: 200, headers: { a: 'b' }, body: Buffer.from('x'), storedAt: NOW, freshUntil: NOW + 5, tags: ['t'] };
    const e = L1Entry.of({ key: 'k', response, size: 300, freshUntil: NOW + 2, keepUntil: NOW + 9, seq: 1 });
    expect(e.response).toBe(response);
    expect([e.key, e.size, e.seq, e.status, e.tags]).toEqual(['k', 300, 1, 200, ['t']]);
    expect([e.storedAt, e.freshUntil, e.keepUntil]).toEqual([NOW, NOW + 2, NOW + 9]);
  });
});
