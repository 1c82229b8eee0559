import { describe, expect, it } from 'vitest';
import { hotspotParameterName, hotspotValueKey, MAX_VALUE_LENGTH } from './value.js';

describe('hotspotParameterName', () => {
  it('names every source', () => {
    for (const source of ['Tenant', 'User', 'ClientIP', 'Model', 'PromptHash'] as const)
      expect(hotspotParameterName({ source })).toBe(source);
    expect(hotspotParameterName({ source: 'Header', name: 'X-API-Key-Id' })).toBe('Header:x-api-key-id');
    expect(hotspotParameterName({ source: 'Query', name: 'Model' })).toBe('Query:Model');
  });

  it('refuses Header and Query without a name', () => {
    expect(() => hotspotParameterName({ source: 'Header' })).toThrow(/needs a name/);
    expect(() => hotspotParameterName({ source: 'Query', name: '' })).toThrow(/needs a name/);
  });
});

describe('hotspotValueKey', () => {
  it('keeps short, well-formed values, Unicode included', () => {
    for (const v of ['acme', '租户-甲', '👩‍💻 team', '', 'a'.repeat(MAX_VALUE_LENGTH)]) expect(hotspotValueKey(v)).toBe(v);
  });

  it('hashes long values to a bounded, stable key', () => {
    const long = 'x'.repeat(10_000);
    const key = hotspotValueKey(long);
    expect(key).toMatch(/^#sha256:[A-Za-z0-9_-]{22}$/);
    expect(hotspotValueKey(long)).toBe(key);
    expect(hotspotValueKey(long + 'y')).not.toBe(key);
  });

  it('hashes lone surrogates and control characters, keeping distinct inputs distinct', () => {
    const a = hotspotValueKey('t\uD800');
    const b = hotspotValueKey('t\uD801');
    expect(a).toMatch(/^#sha256:/);
    expect(b).toMatch(/^#sha256:/);
    expect(a).not.toBe(b); // UTF-8 encoding would map both to U+FFFD
    expect(hotspotValueKey('\uDC00x')).toMatch(/^#sha256:/);
    expect(hotspotValueKey('a\nb')).toMatch(/^#sha256:/);
    expect(hotspotValueKey('a\u0085b')).toMatch(/^#sha256:/);
    expect(hotspotValueKey('a\u2028b')).toMatch(/^#sha256:/);
  });

  it('does not let a value pose as another value’s hash', () => {
    const forged = hotspotValueKey('x'.repeat(200));
    expect(hotspotValueKey(forged)).not.toBe(forged);
  });
});
