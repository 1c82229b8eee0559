import { describe, expect, it } from 'vitest';
import { ALL, VersionTable, keyTag } from './versions.js';

describe('invalidation by version', () => {
  it('bumping a tag invalidates every entry under it numbered before, and none numbered after', () => {
    const v = new VersionTable(100);
    const before = v.seq;
    v.bump('doc:1');
    expect(v.valid(before, { id: 'k1' }, ['doc:1'])).toBe(false);
    expect(v.valid(before, { id: 'k2' }, ['doc:1', 'doc:2'])).toBe(false);
    expect(v.valid(before, { id: 'k3' }, ['doc:2'])).toBe(true);
    expect(v.valid(before, { id: 'k4' }, [])).toBe(true);
    expect(v.valid(v.seq, { id: 'k5' }, ['doc:1'])).toBe(true);
  });

  it('an answer on its way during the bump is invalid: its number was read before', () => {
    const v = new VersionTable(100);
    const lookedUp = v.seq; // the request looks the cache up, goes upstream…
    v.bump('doc:1'); // …the document changes meanwhile…
    expect(v.valid(lookedUp, { id: 'k' }, ['doc:1'])).toBe(false); // …so its answer is not stored
  });

  it('ALL invalidates the whole policy; a key tag only its key', () => {
    const v = new VersionTable(100);
    const s = v.seq;
    v.bump(keyTag('k1'));
    expect(v.valid(s, { id: 'k1' }, [])).toBe(false);
    expect(v.valid(s, { id: 'k2' }, [])).toBe(true);
    v.bump(ALL);
    expect(v.valid(s, { id: 'k2' }, ['x'])).toBe(false);
    expect(v.valid(v.seq, { id: 'k2' }, ['x'])).toBe(true);
  });

  it("reads an entry's id only when keys were invalidated after the entry was numbered", () => {
    const v = new VersionTable(100);
    let reads = 0;
    const entry = (id: string) => ({
      get id(): string {
        reads++;
        return id;
      },
    });
    const s0 = v.seq;
    v.bump('doc:1');
    expect(v.valid(s0, entry('k1'), ['doc:2'])).toBe(true);
    expect(reads).toBe(0); // no key invalidated yet
    v.bump(keyTag('k1'));
    const s1 = v.seq;
    expect(v.valid(s0, entry('k1'), [])).toBe(false);
    expect(v.valid(s0, entry('k2'), [])).toBe(true);
    expect(reads).toBe(2);
    expect(v.valid(s1, entry('k1'), [])).toBe(true); // stored after the key's invalidation
    v.bump('doc:3');
    expect(v.valid(v.seq, entry('k1'), ['doc:3'])).toBe(true);
    expect(reads).toBe(2);
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
    expect(v.valid(s0, { id: 'k' }, ['a'])).toBe(false);
    expect(v.valid(s0, { id: 'k' }, ['zzz'])).toBe(false);
    expect(v.valid(s1, { id: 'k' }, ['a'])).toBe(true);
    expect(v.valid(s1, { id: 'k' }, ['b'])).toBe(false);
  });
});
