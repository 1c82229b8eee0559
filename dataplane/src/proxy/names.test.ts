/** The table of upstream header names: a name found again only when every byte matches, bounded. */
import { describe, expect, it } from 'vitest';
import { HeaderNames } from './names.js';

describe('HeaderNames', () => {
  it('decodes a name seen before from its bytes, and keeps its own copy of them', () => {
    const names = new HeaderNames();
    const read = Buffer.from('xxContent-Typexx', 'latin1'); // a view into a reused read buffer
    const view = read.subarray(2, 14);
    expect(names.decode(view)).toBe('Content-Type');
    read.write('Accept-Range', 2, 'latin1'); // the socket's buffer is reused for the next read
    expect(names.decode(view)).toBe('Accept-Range');
    expect(names.decode(Buffer.from('Content-Type', 'latin1'))).toBe('Content-Type');
    expect(names.size).toBe(2);
  });

  it('tells apart names that differ in one byte, at any position, and in case', () => {
    const names = new HeaderNames();
    const base = 'x-request-id';
    expect(names.decode(Buffer.from(base, 'latin1'))).toBe(base);
    for (let i = 0; i < base.length; i++) {
      const other = base.slice(0, i) + (base[i] === 'z' ? 'y' : 'z') + base.slice(i + 1);
      expect(names.decode(Buffer.from(other, 'latin1'))).toBe(other);
      expect(names.decode(Buffer.from(base, 'latin1'))).toBe(base);
    }
    expect(names.decode(Buffer.from('X-Request-Id', 'latin1'))).toBe('X-Request-Id');
    expect(names.decode(Buffer.from('caf\u00e9', 'latin1'))).toBe('caf\u00e9');
    expect(names.decode(Buffer.alloc(0))).toBe('');
  });

  it('takes no more names past its bounds (in all, per length), and still decodes every one; long names are decoded each time', () => {
    const names = new HeaderNames();
    // 8 names of each length from 1 to 48 would be 384: the bound of 256 comes first.
    for (let len = 1; len <= 48; len++)
      for (let i = 0; i < 20; i++) {
        const name = `${i}`.padStart(len, 'x').slice(-len);
        expect(names.decode(Buffer.from(name, 'latin1'))).toBe(name);
      }
    expect(names.size).toBe(256);
    for (let i = 0; i < 1000; i++) expect(names.decode(Buffer.from(`x-n-${i}`, 'latin1'))).toBe(`x-n-${i}`);
    expect(names.decode(Buffer.from('x-n-999', 'latin1'))).toBe('x-n-999');
    expect(names.decode(Buffer.from('x-n-0', 'latin1'))).toBe('x-n-0');
    const long = `x-${'a'.repeat(100)}`;
    expect(names.decode(Buffer.from(long, 'latin1'))).toBe(long);
    expect(names.size).toBe(256);
  });
});
