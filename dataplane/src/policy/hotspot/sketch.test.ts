import { describe, expect, it } from 'vitest';
import { SpaceSaving } from './sketch.js';

/** Deterministic PRNG (mulberry32) so failures reproduce from the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('SpaceSaving', () => {
  it('counts exactly while the distinct keys fit', () => {
    const s = new SpaceSaving(4);
    for (const k of ['a', 'b', 'a', 'c', 'a', 'b']) s.add(k, 1);
    expect(s.size).toBe(3);
    expect(s.get('a')).toEqual({ key: 'a', count: 3, error: 0 });
    expect(s.lowerBound('b')).toBe(2);
    expect(s.upperBound('zzz')).toBe(0);
    expect(s.top(2).map((e) => e.key)).toEqual(['a', 'b']);
    expect(s.total).toBe(6);
  });

  it('replaces the minimum and carries its count as the error', () => {
    const s = new SpaceSaving(2);
    s.add('a', 5);
    s.add('b', 2);
    expect(s.add('c', 1)).toBe(1);
    expect(s.get('b')).toBeUndefined();
    expect(s.get('c')).toEqual({ key: 'c', count: 3, error: 2 });
    expect(s.upperBound('b')).toBe(3);
  });

  it('rescales uniformly', () => {
    const s = new SpaceSaving(3);
    s.add('a', 4);
    s.add('b', 2);
    s.rescale(0.5);
    expect(s.get('a')?.count).toBe(2);
    expect(s.total).toBe(3);
    expect(s.top(1)[0]?.key).toBe('a');
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new SpaceSaving(0)).toThrow(RangeError);
    expect(() => new SpaceSaving(1.5)).toThrow(RangeError);
  });

  it('keeps its size at the capacity with 1M distinct keys', () => {
    const s = new SpaceSaving(1000);
    for (let i = 0; i < 1_000_000; i++) s.add(`k${i}`, 1);
    expect(s.size).toBe(1000);
    expect(s.total).toBe(1_000_000);
  });

  it('property: every key heavier than N / capacity is monitored, with count - error ≤ truth ≤ count', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = prng(seed);
      const capacity = 4 + Math.floor(rnd() * 60);
      const distinct = 2 + Math.floor(rnd() * 400);
      const n = 200 + Math.floor(rnd() * 4000);
      const skew = 0.5 + rnd() * 2; // Zipf-like exponent
      const weights = Array.from({ length: distinct }, (_, i) => 1 / (i + 1) ** skew);
      const sum = weights.reduce((a, b) => a + b, 0);
      const truth = new Map<string, number>();
      const s = new SpaceSaving(capacity);
      for (let j = 0; j < n; j++) {
        let x = rnd() * sum;
        let i = 0;
        while (i < distinct - 1 && (x -= weights[i] ?? 0) > 0) i++;
        const key = `v${i}`;
        truth.set(key, (truth.get(key) ?? 0) + 1);
        s.add(key, 1);
      }
      const ctx = `seed ${seed}, capacity ${capacity}, distinct ${distinct}, n ${n}`;
      expect(s.size, ctx).toBeLessThanOrEqual(capacity);
      expect(s.total, ctx).toBe(n);
      const top = new Set(s.top(capacity).map((e) => e.key));
      let countSum = 0;
      for (const e of s.top(capacity)) countSum += e.count;
      expect(countSum, ctx).toBe(n); // space-saving invariant: counters sum to N once full or exact before
      for (const [key, f] of truth) {
        if (f > n / capacity) expect(top.has(key), `${ctx}: ${key} (${f}) missing`).toBe(true);
        const e = s.get(key);
        if (e) {
          expect(e.count - e.error, ctx).toBeLessThanOrEqual(f);
          expect(e.count, ctx).toBeGreaterThanOrEqual(f);
        } else {
          expect(f, ctx).toBeLessThanOrEqual(s.upperBound(key));
        }
      }
    }
  });
});
