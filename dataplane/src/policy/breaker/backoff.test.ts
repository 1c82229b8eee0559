import { describe, expect, it } from 'vitest';
import { backoffMs, retryAfterMs } from './backoff.js';

describe('backoff', () => {
  it('is full jitter up to base × 2^(retry − 1), capped at max', () => {
    expect(backoffMs(1, 25, 250, () => 0.999)).toBeCloseTo(24.975);
    expect(backoffMs(2, 25, 250, () => 0.5)).toBe(25);
    expect(backoffMs(3, 25, 250, () => 1)).toBe(100);
    expect(backoffMs(10, 25, 250, () => 1)).toBe(250);
    expect(backoffMs(1, 25, 250, () => 0)).toBe(0);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
    expect(retryAfterMs('2', now)).toBe(2_000);
    expect(retryAfterMs(['0'], now)).toBe(0);
    expect(retryAfterMs('Wed, 21 Oct 2026 07:28:03 GMT', now)).toBe(3_000);
    expect(retryAfterMs('Wed, 21 Oct 2026 07:27:00 GMT', now)).toBe(0);
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-1', now)).toBeUndefined();
    expect(retryAfterMs('99999999999', now)).toBeUndefined(); // more digits than a delay this gateway reads
    expect(retryAfterMs('9999999999', now)).toBe(86_400_000); // capped at a day
  });
});
