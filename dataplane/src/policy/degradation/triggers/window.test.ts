import { describe, expect, it } from 'vitest';
import { WindowedRate } from './window.js';

describe('WindowedRate', () => {
  it('counts calls and failures of the last window only', () => {
    const r = new WindowedRate(10_000, 10);
    for (let i = 0; i < 10; i++) r.record(1_000 + i * 100, i < 3);
    expect(r.totals(2_000)).toEqual({ calls: 10, failures: 3 });
    r.record(6_000, true);
    expect(r.totals(6_000)).toEqual({ calls: 11, failures: 4 });
    // The 1.x s sub-window leaves at 11 s; the 6 s one stays until 16 s.
    expect(r.totals(10_999)).toEqual({ calls: 11, failures: 4 });
    expect(r.totals(11_000)).toEqual({ calls: 1, failures: 1 });
    expect(r.totals(16_000)).toEqual({ calls: 0, failures: 0 });
    // After a gap of many windows the counts start from zero.
    r.record(1_000_000, false);
    expect(r.totals(1_000_000)).toEqual({ calls: 1, failures: 0 });
  });
});
