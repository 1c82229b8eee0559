import { describe, expect, it } from 'vitest';
import { checkId } from './ids.js';

describe('checkId', () => {
  it('passes printable ASCII through untouched', () => {
    expect(checkId('acme-corp_01', 64)).toBe('acme-corp_01');
    expect(checkId('user@example.com', 64)).toBe('user@example.com');
  });

  it('normalizes to NFC so one name is one key', () => {
    expect(checkId('Cafe\u0301', 64)).toBe('Caf\u00e9');
    expect(checkId('Caf\u00e9', 64)).toBe('Caf\u00e9');
    expect(checkId('租户-北京', 64)).toBe('租户-北京');
    expect(checkId('team-🚀', 64)).toBe('team-🚀');
  });

  it('refuses control, invisible and bidi characters and lone surrogates', () => {
    const cases: [string, string][] = [
      ['acme\u0000', 'U+0000'],
      ['acme\ttab', 'U+0009'],
      ['acme\r\nx-admin: 1', 'U+000D'],
      ['ac\u200bme', 'U+200B'],
      ['acme\u202egnp.exe', 'U+202E'],
      ['\ufeffacme', 'U+FEFF'],
      ['acme\u0085', 'U+0085'],
      ['acme\u2028', 'U+2028'],
      ['acme\ud800', 'U+D800'],
      ['acme\u007f', 'U+007F'],
    ];
    for (const [value, cp] of cases) {
      const r = checkId(value, 64);
      expect(typeof r === 'object' && r.error, JSON.stringify(value)).toContain(cp);
    }
  });

  it('bounds the length, before and after normalization', () => {
    expect(checkId('a'.repeat(64), 64)).toBe('a'.repeat(64));
    expect(checkId('a'.repeat(65), 64)).toEqual({ error: 'is longer than 64 characters' });
    expect(checkId('é'.repeat(65), 64)).toEqual({ error: 'is longer than 64 characters' });
    expect(checkId('e\u0301'.repeat(40), 64)).toBe('\u00e9'.repeat(40)); // 80 units in, 40 after NFC: the bound is on the key
    expect(checkId('\u0301'.repeat(1_000_000), 64)).toEqual({ error: 'is longer than 64 characters' });
    expect(checkId('', 64)).toEqual({ error: 'is empty' });
  });
});
