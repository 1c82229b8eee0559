/** The client's head built from an upstream's raw head (names and values as undici receives them). */
import { describe, expect, it } from 'vitest';
import { clientHead, parseRawHeaders, rawHeader } from './headers.js';

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
    expect(clientHead(head, undefined)).toEqual([
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
    const out = clientHead(head, { ratelimit: 'r=1', 'Content-Type': 'application/json', 'x-jarvis-cache': 'miss', 'x-none': undefined });
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

  it('a Connection of close or keep-alive alone drops nothing more', () => {
    expect(clientHead(raw(['connection', 'close'], ['x-a', '1']), undefined)).toEqual(['x-a', '1']);
    expect(clientHead(raw(['x-a', '1'], ['Connection', 'Keep-Alive']), undefined)).toEqual(['x-a', '1']);
  });

  it('reads one header by its lower-case name, ignoring case, without parsing the rest', () => {
    expect(rawHeader(head, 'content-type')).toBe('text/plain');
    expect(rawHeader(head, 'set-cookie')).toBe('a=1');
    expect(rawHeader(head, 'x-latin')).toBe('caf\u00e9');
    expect(rawHeader(head, 'content-length')).toBeUndefined();
    expect(rawHeader(head, 'content-typ')).toBeUndefined();
  });

  it('parses into lower-case names, a repeated header as the list of its values, with no prototype to reach', () => {
    const parsed = parseRawHeaders(
      raw(['Set-Cookie', 'a=1'], ['X-A', '1'], ['set-cookie', 'b=2'], ['__proto__', 'x'], ['SET-COOKIE', 'c=3']),
    );
    expect({ ...parsed }).toEqual({ 'set-cookie': ['a=1', 'b=2', 'c=3'], 'x-a': '1', ['__proto__']: 'x' });
    expect(Object.getPrototypeOf(parsed)).toBeNull();
    expect(parseRawHeaders([])).toEqual({});
  });
});
