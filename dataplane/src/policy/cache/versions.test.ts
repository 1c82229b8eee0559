import { describe, expect, it } from 'vitest';
import { ALL, VersionTable, keyTag } from './versions.js';

describe('invalidation by version', () => {
  it('bumping a tag invalidates every entry under it numbered before, and none numbered after', () => {
    const v = new VersionTable(100);
    const before = v.seq;
    v.bump('doc:1');
    expect(v.valid(before, 'k1', ['doc:1'])).toBe(false);
    expect(v.valid(before, 'k2', ['doc:1', 'doc:2'])).toBe(false);
    expect(v.valid(before, 'k3', ['doc:2'])).toBe(true);
    expect(v.valid(before, 'k4', [])).toBe(true);
    expect(v.valid(v.seq, 'k5', ['doc:1'])).toBe(true);
  });

  it('an answer on its way during the bump is invalid: its number was read before', () => {
    const v = new VersionTable(100);
    const lookedUp = v.seq; // the request looks the cache up, goes upstream…
    v.bump('doc:1'); // …the document changes meanwhile…
    expect(v.valid(lookedUp, 'k', ['doc:1'])).toBe(false); // …so its answer is not stored
  });

  it('ALL invalidates the whole policy; a key tag only its key', () => {
    const v = new VersionTable(100);
    const s = v.seq;
    v.bump(keyTag('k1'));
    expect(v.valid(s, 'k1', [])).toBe(false);
    expect(v.valid(s, 'k2', [])).toBe(true);
    v.bump(ALL);
    expect(v.valid(s, 'k2', ['x'])).toBe(false);
    expect(v.valid(v.seq, 'k2', ['x'])).toBe(true);
  });

  it('costs O(1) whatever the number of entries: one table entry per tag', () => {
    const v = new VersionTable(10);
    for (let i = 0; i < 1000; i++) v.bump('same');
    expect(v.size).toBe(1);
  });

  it('is bounded; forgetting a bump makes older entries invalid, never valid again', () => {
    const v = new VersionTable(2);
    const s0 = v.seq;
    v.bump('a');
    const s1 = v.seq;
    v.bump('b');
    v.bump('c'); // 'a' is forgotten: everything numbered before its bump is invalid
    expect(v.size).toBe(2);
    expect(v.valid(s0, 'k', ['a'])).toBe(false);
    expect(v.valid(s0, 'k', ['zzz'])).toBe(false);
    expect(v.valid(s1, 'k', ['a'])).toBe(true);
    expect(v.valid(s1, 'k', ['b'])).toBe(false);
  });
});
