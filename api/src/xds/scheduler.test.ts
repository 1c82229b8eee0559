import { describe, expect, it } from 'vitest';
import { Backoff } from './scheduler.js';

describe('Backoff', () => {
  it('grows exponentially up to the bound', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.2 }, () => 0.5);
    expect([1, 2, 3, 4, 5, 6].map(() => b.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('jitters within ±jitter', () => {
    expect(new Backoff({ initialMs: 1000, jitter: 0.2 }, () => 0).next()).toBe(800);
    expect(new Backoff({ initialMs: 1000, jitter: 0.2 }, () => 0.999999).next()).toBe(1200);
  });
});
