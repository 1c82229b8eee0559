/** The table of upstream header names: a name found again only when every byte matches, bounded. */
import { describe, expect, it } from 'vitest';
import { HeaderName, HeaderNames, INLINE, lowerName } from './names.js';

describe('HeaderNames', () => {
  it('decodes a name seen before from its bytes, and keeps its own copy of them', () => {
    const names = new HeaderNames();
    const read = Buffer.from('xxContent-Typexx', 'latin1'); // a view into a reused read buffer
    const view = read.subarray(2, 14);
    expect(names.decode(view).name).toBe('Content-Type');
    read.write('Accept-Range', 2, 'latin1'); // the socket's buffer is reused for the next read
    expect(names.decode(view).name).toBe('Accept-Range');
    expect(names.decode(Buffer.from('Content-Type', 'latin1')).name).toBe('Content-Type');
    expect(names.size).toBe(2);
  });

  it('tells apart names that differ in one byte, at any position, and in case', () => {
    const names = new HeaderNames();
    const base = 'x-request-id';
    expect(names.decode(Buffer.from(base, 'latin1')).name).toBe(base);
    for (let i = 0; i < base.length; i++) {
      const other = base.slice(0, i) + (base[i] === 'z' ? 'y' : 'z') + base.slice(i + 1);
      expect(names.decode(Buffer.from(other, 'latin1')).name).toBe(other);
      expect(names.decode(Buffer.from(base, 'latin1')).name).toBe(base);
    }
    expect(names.decode(Buffer.from('X-Request-Id', 'latin1')).name).toBe('X-Request-Id');
    expect(names.decode(Buffer.from('caf\u00e9', 'latin1')).name).toBe('caf\u00e9');
    expect(names.decode(Buffer.alloc(0)).name).toBe('');
  });

  it('hands back each name in lower case, whether it is hop-by-hop and its INLINE number, for kept and unkept names alike', () => {
    const names = new HeaderNames();
    const seen = (s: string) => names.decode(Buffer.from(s, 'latin1'));
    expect(seen('Content-Type')).toEqual({ name: 'Content-Type', lower: 'content-type', hop: false, inline: 0 });
    expect(seen('Keep-Alive')).toEqual({ name: 'Keep-Alive', lower: 'keep-alive', hop: true, inline: 0 });
    expect(seen('TRANSFER-ENCODING')).toEqual({ name: 'TRANSFER-ENCODING', lower: 'transfer-encoding', hop: true, inline: 0 });
    expect(seen('Cache-CONTROL')).toEqual({ name: 'Cache-CONTROL', lower: 'cache-control', hop: false, inline: INLINE['cache-control'] });
    expect(seen('connection').inline).toBe(INLINE.connection);
    for (const [name, n] of Object.entries(INLINE)) expect(seen(name.toUpperCase()).inline).toBe(n);
    // The same record again when the bytes were seen before.
    expect(seen('Keep-Alive')).toBe(seen('Keep-Alive'));
    // A name too long to keep is decoded each time, with the same facts.
    const long = `Connection-${'x'.repeat(60)}`;
    expect(seen(long)).toEqual({ name: long, lower: long.toLowerCase(), hop: false, inline: 0 });
  });

  it('takes no more names past its bounds (in all, per length), and still decodes every one; long names are decoded each time', () => {
    const names = new HeaderNames();
    // 8 names of each length from 1 to 48 would be 384: the bound of 256 comes first.
    for (let len = 1; len <= 48; len++)
      for (let i = 0; i < 20; i++) {
        const name = `${i}`.padStart(len, 'x').slice(-len);
        expect(names.decode(Buffer.from(name, 'latin1')).name).toBe(name);
      }
    expect(names.size).toBe(256);
    for (let i = 0; i < 1000; i++) expect(names.decode(Buffer.from(`x-n-${i}`, 'latin1')).name).toBe(`x-n-${i}`);
    expect(names.decode(Buffer.from('x-n-999', 'latin1')).name).toBe('x-n-999');
    expect(names.decode(Buffer.from('x-n-0', 'latin1')).name).toBe('x-n-0');
    const long = `x-${'a'.repeat(100)}`;
    expect(names.decode(Buffer.from(long, 'latin1')).name).toBe(long);
    expect(names.size).toBe(256);
  });

  it('lowerName: the lower-case name whatever the case asked in, and still right past its bound', () => {
    expect(lowerName('X-Same-Name')).toBe('x-same-name');
    expect(lowerName('x-SAME-name')).toBe('x-same-name');
    expect(lowerName('x-same-name')).toBe('x-same-name');
    for (let i = 0; i < 2000; i++) expect(lowerName(`X-Many-${i}`)).toBe(`x-many-${i}`);
    expect(lowerName('X-Many-1999')).toBe('x-many-1999');
  });

  it("decodes a name's values right whether they repeat, change in one byte or in length, or are too long to keep", () => {
    const name = new HeaderName('Date', true);
    const read = Buffer.from('..Fri, 04 Dec 2026 23:20:00 GMT..', 'latin1');
    const view = read.subarray(2, 31);
    expect(name.value(view)).toBe('Fri, 04 Dec 2026 23:20:00 GMT');
    // The socket's buffer is reused: same length, one byte different, at the start and at the end.
    read.write('S', 2, 'latin1');
    expect(name.value(view)).toBe('Sri, 04 Dec 2026 23:20:00 GMT');
    read.write('X', 30, 'latin1');
    expect(name.value(view)).toBe('Sri, 04 Dec 2026 23:20:00 GMX');
    expect(name.value(view)).toBe('Sri, 04 Dec 2026 23:20:00 GMX');
    expect(name.value(Buffer.from('Sri, 04 Dec 2026', 'latin1'))).toBe('Sri, 04 Dec 2026');
    expect(name.value(Buffer.alloc(0))).toBe('');
    expect(name.value(Buffer.from('caf\u00e9', 'latin1'))).toBe('caf\u00e9');
    const long = 'v'.repeat(64) + 'w';
    expect(name.value(Buffer.from(long, 'latin1'))).toBe(long);
    expect(name.value(Buffer.from(long.slice(0, 64), 'latin1'))).toBe('v'.repeat(64));
    expect(name.value(Buffer.from('u' + 'v'.repeat(63), 'latin1'))).toBe('u' + 'v'.repeat(63));
  });
});
