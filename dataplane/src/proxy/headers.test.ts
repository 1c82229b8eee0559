/** The client's head built from an upstream's raw head (names and values as undici receives them). */
import { HOP_BY_HOP_HEADERS } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { UpstreamHead, clientHead } from './headers.js';

/** A head's names (as spelled) and values, alternating. */
function strings(head: UpstreamHead): string[] {
  return head.names.flatMap((n, i) => [n.name, head.values[i] as string]);
}

/** A raw head from name/value pairs. */
function raw(...pairs: [string, string][]): Buffer[] {
  return pairs.flatMap(([n, v]) => [Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1')]);
}

describe('raw upstream heads', () => {
  const head = raw(
    ['Content-Type', 'text/plain'],
    ['Connection', 'keep-alive, X-Internal'],
    ['Keep-Alive', 'timeout=5'],
    ['Set-Cookie', 'a=1'],
    ['x-internal', 'secret'],
    ['Transfer-Encoding', 'chunked'],
    ['set-cookie', 'b=2'],
    ['RateLimit', 'upstream'],
    ['X-Latin', 'caf\u00e9'],
  );

  it('passes the end-to-end headers in order, each repeat, spelled as received; drops hop-by-hop ones and those Connection names', () => {
    expect(clientHead(new UpstreamHead(head), undefined)).toEqual([
      'Content-Type',
      'text/plain',
      'Set-Cookie',
      'a=1',
      'set-cookie',
      'b=2',
      'RateLimit',
      'upstream',
      'X-Latin',
      'caf\u00e9',
    ]);
  });

  it("replaces the upstream's headers that the gateway sets itself, whatever their case, and appends the gateway's", () => {
    const out = clientHead(new UpstreamHead(head), {
      ratelimit: 'r=1',
      'Content-Type': 'application/json',
      'x-jarvis-cache': 'miss',
      'x-none': undefined,
    });
    expect(out).toEqual([
      'Set-Cookie',
      'a=1',
      'set-cookie',
      'b=2',
      'X-Latin',
      'caf\u00e9',
      'ratelimit',
      'r=1',
      'Content-Type',
      'application/json',
      'x-jarvis-cache',
      'miss',
    ]);
  });

  it('drops every hop-by-hop name in any case, and keeps the names of the same lengths that are not one', () => {
    const mixed = (s: string) => [...s].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('');
    const hop = [...HOP_BY_HOP_HEADERS].flatMap((n) => [[n, 'x'] as [string, string], [mixed(n), 'y'] as [string, string]]);
    // For each hop-by-hop name, an end-to-end one of its length and all but its last letter.
    const kept = [...HOP_BY_HOP_HEADERS].map((n, i) => [mixed(n.slice(0, -1)) + '0', String(i)] as [string, string]);
    expect(clientHead(new UpstreamHead(raw(...hop, ...kept)), undefined)).toEqual(kept.flat());
    expect(new UpstreamHead(raw(...hop)).header('Transfer-Encoding')).toBe('x, y');
  });

  it('drops the headers named by every Connection line, not by the last one only', () => {
    const head = raw(
      ['Connection', 'x-first'],
      ['x-first', '1'],
      ['x-kept', '2'],
      ['connection', 'keep-alive, X-Second'],
      ['x-second', '3'],
    );
    expect(clientHead(new UpstreamHead(head), undefined)).toEqual(['x-kept', '2']);
  });

  it('a Connection of close or keep-alive alone drops nothing more', () => {
    expect(clientHead(new UpstreamHead(raw(['connection', 'close'], ['x-a', '1'])), undefined)).toEqual(['x-a', '1']);
    expect(clientHead(new UpstreamHead(raw(['x-a', '1'], ['Connection', 'Keep-Alive'])), undefined)).toEqual(['x-a', '1']);
  });

  it('reads one header by its lower-case name, ignoring case, repeated lines joined, without parsing the rest', () => {
    expect(new UpstreamHead(head).header('content-type')).toBe('text/plain');
    expect(new UpstreamHead(head).header('set-cookie')).toBe('a=1, b=2');
    expect(new UpstreamHead(head).header('x-latin')).toBe('caf\u00e9');
    expect(new UpstreamHead(head).header('content-length')).toBeUndefined();
    expect(new UpstreamHead(head).header('content-typ')).toBeUndefined();
    expect(new UpstreamHead(head).header('ratelimit')).toBe('upstream');
    expect(new UpstreamHead(head).header('X-LATIN')).toBe('caf\u00e9');
    // Names asked for are lower-cased once and remembered, up to a bound; past it, still found.
    const h = new UpstreamHead(head);
    for (let i = 0; i < 600; i++) expect(h.header(`X-Unknown-${i}`)).toBeUndefined();
    expect(h.header('X-Latin')).toBe('caf\u00e9');
    expect(h.header('Set-Cookie')).toBe('a=1, b=2');
    // An upstream's names are lower-cased through the same bounded memo: past it, still lower case.
    const many = raw(...Array.from({ length: 300 }, (_, i) => [`X-Many-${i}`, String(i)] as [string, string]));
    expect(Object.keys(new UpstreamHead(many).headers)).toEqual(Array.from({ length: 300 }, (_, i) => `x-many-${i}`));
    expect(new UpstreamHead(head).headers['x-latin']).toBe('caf\u00e9');
  });

  it('parses into lower-case names, a repeated header as the list of its values; no name reaches the prototype', () => {
    const parsed = new UpstreamHead(
      raw(
        ['Set-Cookie', 'a=1'],
        ['X-A', '1'],
        ['set-cookie', 'b=2'],
        ['__proto__', 'x'],
        ['SET-COOKIE', 'c=3'],
        ['constructor', 'y'],
        ['constructor', 'z'],
      ),
    ).headers;
    expect(Object.keys(parsed)).toEqual(['set-cookie', 'x-a', '__proto__', 'constructor']);
    expect(parsed['set-cookie']).toEqual(['a=1', 'b=2', 'c=3']);
    expect(parsed['__proto__']).toBe('x');
    expect(parsed['constructor']).toEqual(['y', 'z']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(new UpstreamHead([]).parse()).toEqual({});
    expect(new UpstreamHead(head).parse((name) => name.startsWith('x-') || name === 'set-cookie')).toEqual({
      'content-type': 'text/plain',
      connection: 'keep-alive, X-Internal',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      ratelimit: 'upstream',
    });
  });

  it('decodes a head whose parts are views of one read, as undici gives them, and one whose parts are not', () => {
    const bytes = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Latin: caf\u00e9\r\nx-a: 1\r\n\r\n', 'latin1');
    const view = (s: string) => {
      const at = bytes.indexOf(s, 0, 'latin1');
      return bytes.subarray(at, at + Buffer.byteLength(s, 'latin1'));
    };
    const one = new UpstreamHead([view('Content-Type'), view('text/plain'), view('X-Latin'), view('caf\u00e9'), view('x-a'), view('1')]);
    expect(strings(one)).toEqual(['Content-Type', 'text/plain', 'X-Latin', 'caf\u00e9', 'x-a', '1']);
    const apart = [Buffer.alloc(3, 'x-b'), Buffer.alloc(1, '2'), view('x-a'), view('1')];
    expect(strings(new UpstreamHead(apart))).toEqual(['x-b', '2', 'x-a', '1']);
    // Views of one buffer far apart or out of order: each part is its own bytes.
    const big = Buffer.alloc(4096, 'y');
    big.write('x-far', 4000, 'latin1');
    expect(strings(new UpstreamHead([big.subarray(0, 3), big.subarray(4000, 4005)]))).toEqual(['yyy', 'x-far']);
    expect(strings(new UpstreamHead([view('x-a'), view('Content-Type')]))).toEqual(['x-a', 'Content-Type']);
  });

  it('an UpstreamHead parses once, when asked, and is built from headers by name the same way', () => {
    const h = UpstreamHead.of({ 'Content-Type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'x-none': undefined });
    expect(h.raw.map((b) => b.toString())).toEqual(['Content-Type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
    expect(h.headers).toBe(h.headers);
    expect({ ...h.headers }).toEqual({ 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
  });
});
