import { describe, expect, it } from 'vitest';
import { SlotIndex } from './slot-index.js';

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('SlotIndex', () => {
  it('agrees with a Map over random adds and deletes, through growth and backward shifts', () => {
    const keys: (string | undefined)[] = [];
    const index = new SlotIndex((slot) => keys[slot], 4);
    const model = new Map<string, number>();
    const free: number[] = [];
    const random = rng(7);
    for (let step = 0; step < 50_000; step++) {
      const key = `k${Math.floor(random() * 3000)}`;
      const present = model.get(key);
      expect(index.get(key)).toBe(present);
      if (present === undefined) {
        const slot = free.pop() ?? keys.length;
        keys[slot] = key;
        index.add(key, slot);
        model.set(key, slot);
      } else if (random() < 0.6) {
        expect(index.delete(key)).toBe(true);
        keys[present] = undefined;
        free.push(present);
        model.delete(key);
      }
      expect(index.size).toBe(model.size);
    }
    for (const [key, slot] of model) expect(index.get(key)).toBe(slot);
    expect(index.delete('absent')).toBe(false);
  });
});
