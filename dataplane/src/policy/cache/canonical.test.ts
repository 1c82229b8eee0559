import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, bodyDigest, canonicalJson } from './canonical.js';

const digestOf = (text: string): string => bodyDigest(Buffer.from(text), JSON.parse(text));

describe('canonical JSON hashing', () => {
  it('ignores the order of object members, at every depth', () => {
    const a = '{"model":"gpt-4","messages":[{"role":"user","content":"hi"}],"temperature":0}';
    const b = '{"temperature":0,"messages":[{"content":"hi","role":"user"}],"model":"gpt-4"}';
    expect(canonicalJson(JSON.parse(a))).toBe(canonicalJson(JSON.parse(b)));
    expect(digestOf(a)).toBe(digestOf(b));
  });

  it('ignores whitespace and number and string spellings that mean the same', () => {
    expect(digestOf('{"a":1,"b":"A"}')).toBe(digestOf(' {\n "b" : "\\u0041",\t"a": 1.0e0 } '));
  });

  it('keeps what changes the meaning: values, array order, types, nesting', () => {
    const base = digestOf('{"q":"cats","top_k":5,"filters":["a","b"]}');
    for (const other of [
      '{"q":"cats","top_k":6,"filters":["a","b"]}',
      '{"q":"cats","top_k":5,"filters":["b","a"]}',
      '{"q":"cats","top_k":"5","filters":["a","b"]}',
      '{"q":"cats","top_k":5,"filters":[["a","b"]]}',
      '{"q":"cats","top_k":5}',
      '{"q":"Cats","top_k":5,"filters":["a","b"]}',
    ])
      expect(digestOf(other)).not.toBe(base);
  });

  it('prints a fixed canonical form: sorted names, no whitespace', () => {
    expect(canonicalJson({ b: [true, null, { d: 1, c: 'x' }], a: -0.5 })).toBe('{"a":-0.5,"b":[true,null,{"c":"x","d":1}]}');
  });

  it('hashes non-JSON bodies by their bytes, under a prefix of their own', () => {
    const raw = bodyDigest(Buffer.from('{"a":1}'), undefined);
    const json = bodyDigest(Buffer.from('{"a":1}'), { a: 1 });
    expect(raw.startsWith('r:')).toBe(true);
    expect(json.startsWith('j:')).toBe(true);
    // The same bytes hashed both ways: only the prefix tells them apart, and it does.
    expect(raw).not.toBe(json);
    expect(bodyDigest(Buffer.from('a=1&b=2'), undefined)).not.toBe(bodyDigest(Buffer.from('b=2&a=1'), undefined));
  });

  it('falls back to the bytes for JSON nested deeper than the bound (no stack overflow)', () => {
    const deep = '['.repeat(MAX_DEPTH + 10) + ']'.repeat(MAX_DEPTH + 10);
    expect(canonicalJson(JSON.parse(deep))).toBeUndefined();
    expect(bodyDigest(Buffer.from(deep), JSON.parse(deep)).startsWith('r:')).toBe(true);
    const shallow = '['.repeat(MAX_DEPTH - 1) + ']'.repeat(MAX_DEPTH - 1);
    expect(bodyDigest(Buffer.from(shallow), JSON.parse(shallow)).startsWith('j:')).toBe(true);
  });
});
