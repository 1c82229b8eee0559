import { describe, expect, it } from 'vitest';
import { normalizePath } from './path.js';

describe('normalizePath', () => {
  it('leaves ordinary paths alone', () => {
    for (const p of ['/', '/api/v1/chat', '/a.b/c_d~e', '/x/.well-known/y', '/a//b']) expect(normalizePath(p)).toBe(p);
  });

  it('removes dot-segments (RFC 3986 5.2.4)', () => {
    expect(normalizePath('/probe/../api/v1/chat')).toBe('/api/v1/chat');
    expect(normalizePath('/a/./b/../c')).toBe('/a/c');
    expect(normalizePath('/../../etc')).toBe('/etc');
    expect(normalizePath('/a/b/..')).toBe('/a/');
    expect(normalizePath('/a/.')).toBe('/a/');
  });

  it('decodes unreserved characters, so encoded dot-segments are dot-segments too', () => {
    expect(normalizePath('/probe/%2e%2e/api/v1/chat')).toBe('/api/v1/chat');
    expect(normalizePath('/probe/%2E%2e/api')).toBe('/api');
    expect(normalizePath('/%61pi/v1')).toBe('/api/v1');
    expect(normalizePath('/a%7Eb')).toBe('/a~b');
  });

  it('keeps reserved and other encodings, with upper-case hex', () => {
    expect(normalizePath('/a%2fb')).toBe('/a%2Fb'); // an encoded slash is not a separator
    expect(normalizePath('/caf%c3%a9')).toBe('/caf%C3%A9');
    expect(normalizePath('/q%3F')).toBe('/q%3F');
  });

  it('refuses what is not an origin-form path', () => {
    expect(normalizePath('http://example.com/a')).toBeUndefined();
    expect(normalizePath('*')).toBeUndefined();
    expect(normalizePath('/a%2')).toBeUndefined();
    expect(normalizePath('/a%zz')).toBeUndefined();
  });
});
