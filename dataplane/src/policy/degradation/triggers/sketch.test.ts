import { describe, expect, it } from 'vitest';
import { LogHistogram, LogLayout, MAX_VALUE, WindowedSketch } from './sketch.js';

/** A seeded generator (mulberry32), so a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Nearest-rank quantile of sorted values. */
function exact(sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1] as number;
}

describe('LogHistogram', () => {
  it('estimates every quantile within its relative error of the exact nearest-rank quantile', () => {
    for (const alpha of [0.01, 0.02, 0.05]) {
      const random = seeded(42);
      // Log-normal latencies (median ~50 ms, a long tail) and a uniform block of fast answers.
      const values: number[] = [];
      for (let i = 0; i < 20_000; i++) {
        const g = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
        values.push(Math.exp(Math.log(50) + 1.2 * g));
      }
      for (let i = 0; i < 5_000; i++) values.push(0.05 + random() * 2);
      const h = new LogHistogram(new LogLayout(alpha));
      for (const v of values) h.record(v);
      const sorted = [...values].sort((a, b) => a - b);
      for (const q of [0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) {
        const truth = exact(sorted, q);
        const estimate = h.quantile(q) as number;
        expect(Math.abs(estimate - truth) / truth, `alpha ${alpha} q ${q}: ${estimate} vs ${truth}`).toBeLessThanOrEqual(alpha + 1e-9);
      }
    }
  });

  it('has no quantile when empty, reports tiny values as 0 and clamps huge ones', () => {
    const h = new LogHistogram();
    expect(h.quantile(0.95)).toBeUndefined();
    h.record(0);
    expect(h.quantile(0.5)).toBe(0);
    h.record(1e12);
    expect(h.quantile(1)).toBeLessThanOrEqual(MAX_VALUE);
    expect(h.quantile(1)).toBeGreaterThan(MAX_VALUE * 0.98);
  });

  it('uses a fixed number of buckets (about 1,150 at 1 %)', () => {
    const layout = new LogLayout(0.01);
    expect(layout.size).toBeGreaterThan(1000);
    expect(layout.size).toBeLessThan(1300);
    expect(layout.index(MAX_VALUE * 10)).toBe(layout.index(MAX_VALUE));
    expect(layout.index(MAX_VALUE)).toBeLessThan(layout.size);
  });
});

describe('WindowedSketch', () => {
  it('forgets values once their sub-window has left the window', () => {
    const w = new WindowedSketch(1000, 10);
    for (let i = 0; i < 100; i++) w.record(5_000, 500); // slow, at t = 5.0 s
    expect(w.quantile(5_000, 0.95)).toBeCloseTo(500, -1);
    for (let i = 0; i < 100; i++) w.record(5_500, 10); // fast, half a window later
    expect(w.count(5_500)).toBe(200);
    // p95 of 100 × 500 and 100 × 10 is 500.
    expect(w.quantile(5_500, 0.95)).toBeCloseTo(500, -1);
    // 5.0 s's sub-window leaves at 6.0 s; 5.5 s's stays until 6.5 s.
    expect(w.count(5_999)).toBe(200);
    expect(w.count(6_000)).toBe(100);
    expect(w.quantile(6_000, 0.95)).toBeCloseTo(10, 0);
    expect(w.count(6_500)).toBe(0);
    expect(w.quantile(6_500, 0.95)).toBeUndefined();
  });

  it('matches a histogram of the same values within the window, after long gaps too', () => {
    const random = seeded(7);
    const w = new WindowedSketch(2000, 10);
    let t = 0;
    for (let round = 0; round < 5; round++) {
      t += 10_000 + Math.floor(random() * 50_000); // a gap far longer than the window
      const h = new LogHistogram();
      for (let i = 0; i < 500; i++) {
        const v = 1 + random() * 300;
        w.record(t + i, v);
        h.record(v);
      }
      expect(w.count(t + 499)).toBe(500);
      expect(w.quantile(t + 499, 0.95)).toBe(h.quantile(0.95));
    }
  });
});
