import { describe, expect, it } from 'vitest';
import { roundTripMedianMs } from './redis.js';

describe('roundTripMedianMs', () => {
  it('is the median of the round trips between two readings, interpolated in its bucket', () => {
    const before = new Map([
      [0.0005, 10],
      [0.001, 10],
      [0.0025, 10],
      [Infinity, 10],
    ]);
    // 100 more round trips: 20 under 0.5 ms, 60 in (0.5, 1] ms, 20 in (1, 2.5] ms.
    const after = new Map([
      [0.0005, 30],
      [0.001, 90],
      [0.0025, 110],
      [Infinity, 110],
    ]);
    // The 50th of 100 is the 30th of the 60 in (0.5, 1]: halfway through.
    expect(roundTripMedianMs(before, after)).toBeCloseTo(0.75, 6);
    expect(roundTripMedianMs(after, after)).toBeUndefined();
  });
});
