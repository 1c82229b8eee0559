import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { credentialKeyPart, keyHead, keyPart, keyPartFor, MAX_RAW_VALUE } from './keys.js';

describe('keys', () => {
  it('keeps short printable values as they are', () => {
    expect(keyPart('10.0.0.1')).toBe('10.0.0.1');
    expect(keyPart('2001:db8::/64')).toBe('2001:db8::/64');
    expect(keyPart('acme-corp')).toBe('acme-corp');
  });

  it('hashes long, empty, spaced, odd-Unicode and brace or hash values to a bounded form', () => {
    for (const v of ['x'.repeat(MAX_RAW_VALUE + 1), '', 'a b', 'Ünïcödé', 'e\u0301', '\uD800', '{tag}', '#abc', 'a\nb', '\u202Eevil']) {
      const k = keyPart(v);
      expect(k, v).toMatch(/^#[A-Za-z0-9_-]{22}$/);
    }
  });

  it('keeps exactly printable ASCII but space, hash and braces, up to MAX_RAW_VALUE characters', () => {
    const kept = /^[\x21\x22\x24-\x7a\x7c\x7e]+$/; // the documented set
    for (let c = 0; c < 0x250; c++) {
      const ch = String.fromCharCode(c);
      expect(keyPart(ch) === ch, `U+${c.toString(16)}`).toBe(kept.test(ch));
      expect(keyPart(`a${ch}b`) === `a${ch}b`, `a U+${c.toString(16)} b`).toBe(kept.test(ch));
    }
    expect(keyPart('x'.repeat(MAX_RAW_VALUE))).toBe('x'.repeat(MAX_RAW_VALUE));
    expect(keyPart('x'.repeat(MAX_RAW_VALUE + 1))).not.toBe('x'.repeat(MAX_RAW_VALUE + 1));
  });

  it('is injective in practice: distinct values, lone surrogates included, give distinct parts', () => {
    const values = ['\uD800', '\uD801', '\uDC00', 'e\u0301', '\u00e9', 'x'.repeat(100), 'x'.repeat(101)];
    expect(new Set(values.map(keyPart)).size).toBe(values.length);
  });

  it('puts one hash tag first, so every key of a request lands in one cluster slot', () => {
    const heads = [keyHead('jrl', 'ns/p/user', 1, 'U'), keyHead('jrl', 'ns/p/tenant', 2, 'T')];
    for (const h of heads) expect(h.match(/\{([^}]*)\}/)?.[1]).toBe('jrl');
    // A value cannot open a tag of its own: braces are hashed away.
    expect(keyPart('{other}')).not.toContain('{');
  });
});

describe('credential key parts', () => {
  it('a credential-like header name gives digests only, the same for the same value', () => {
    for (const name of ['x-api-key', 'Authorization', 'proxy-authorization', 'cookie', 'x-session-id', 'x-auth-token', 'api_key']) {
      const part = keyPartFor(name);
      expect(part('k1'), name).toBe(credentialKeyPart('k1'));
      expect(part('k1')).toMatch(/^#[A-Za-z0-9_-]{22}$/);
      expect(part('k1')).not.toBe(part('k2'));
    }
    expect(keyPartFor('x-tier')('gold')).toBe('gold');
    expect(keyPartFor(undefined)('10.0.0.1')).toBe('10.0.0.1');
  });

  it('is the documented digest: SHA-256 of the UTF-8 value, base64url, 22 characters', () => {
    expect(credentialKeyPart('sk-test')).toBe('#' + createHash('sha256').update('sk-test').digest('base64url').slice(0, 22));
  });
});
