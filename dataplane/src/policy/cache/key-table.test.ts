import { describe, expect, it } from 'vitest';
import { KeyTable, keyHash, type KeyedEntry } from './key-table.js';

function entry(key: string): KeyedEntry & { n: number } {
  return { key, keyHash: keyHash(key), n: 0 };
}

/** A small deterministic generator (xorshift32) for the operation mix. */
function generator(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

describe('KeyTable', () => {
  it('finds what was added, by key; removes by identity; never hashes to 0', () => {
    const t = new KeyTable<KeyedEntry>();
    const a = entry('a');
    const b = entry('b');
    t.add(a);
    t.add(b);
    expect(t.get('a')).toBe(a);
    expect(t.get('b', b.keyHash)).toBe(b);
    expect(t.get('c')).toBeUndefined();
    expect(t.delete(entry('a'))).toBe(false); // an equal key is not the entry
    expect(t.delete(a)).toBe(true);
    expect(t.delete(a)).toBe(false);
    expect(t.get('a')).toBeUndefined();
    expect(t.get('b')).toBe(b);
    expect(t.size).toBe(1);
    for (const k of ['', 'x', 'a'.repeat(43), '\uD800']) expect(keyHash(k)).not.toBe(0);
  });

  it('agrees with a Map over a long mix of adds, lookups and deletes (growth and backward shifts)', () => {
    const t = new KeyTable<KeyedEntry & { n: number }>();
    const model = new Map<string, KeyedEntry & { n: number }>();
    const random = generator(0x9e3779b9);
    for (let step = 0; step < 50_000; step++) {
      // Few distinct keys at first (long probe runs in a small table), more later (growth).
      const key = `k${Math.floor(random() * (step < 10_000 ? 64 : 20_000))}`;
      const r = random();
      const have = model.get(key);
      if (r < 0.45) {
        if (have === undefined) {
          const e = entry(key);
          t.add(e);
          model.set(key, e);
        }
      } else if (r < 0.75) {
        if (have !== undefined) {
          expect(t.delete(have)).toBe(true);
          model.delete(key);
        }
      } else {
        expect(t.get(key)).toBe(have);
      }
      expect(t.size).toBe(model.size);
    }
    for (const [key, e] of model) expect(t.get(key)).toBe(e);
    t.clear();
    expect(t.size).toBe(0);
    for (const key of model.keys()) expect(t.get(key)).toBeUndefined();
  });
});
