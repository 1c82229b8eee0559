import { describe, expect, it } from 'vitest';
import { BENCH_VARIANTS } from './harness/manifests.js';
import { FULL, QUICK, cpuPerRequest, parseBenchArgs, roundRatios } from './suite.js';

describe('parseBenchArgs', () => {
  it('measures every variant in a full run and leaves the two slowest Redis ones out of --quick', () => {
    expect(parseBenchArgs([]).variants).toEqual(FULL.variants);
    expect(parseBenchArgs([]).variants).toEqual(BENCH_VARIANTS);
    expect(parseBenchArgs(['--quick']).variants).toEqual(QUICK.variants);
    expect(QUICK.variants).not.toContain('cache_miss_redis');
  });

  it('--variants keeps only the named variants, in the suite order', () => {
    const s = parseBenchArgs(['--cpus', '1', '--variants', 'limits_redis,routing']);
    expect(s.variants).toEqual(['routing', 'limits_redis']);
    expect(s.cpus).toBe(1);
  });

  it('--variants refuses an unknown or empty list, naming what it knows', () => {
    expect(() => parseBenchArgs(['--variants', 'routing,nope'])).toThrow(/unknown: nope/);
    expect(() => parseBenchArgs(['--variants', 'routing,nope'])).toThrow(/routing, limits_memory/);
    expect(() => parseBenchArgs(['--variants'])).toThrow(/--variants wants/);
  });
});

describe('per-round CPU ratios', () => {
  it("divide each round's slice by the mean of the bare slices around it, leaving out rounds missing one", () => {
    const ratios = roundRatios(
      [63, undefined, 50, 45],
      [
        [40, 44],
        [40, 40],
        [50, undefined],
        [45, 45],
      ],
    );
    expect(ratios).toEqual([1.5, 1]);
    expect(roundRatios([], [])).toEqual([]);
  });
});

describe('cpuPerRequest', () => {
  it("divides the window's CPU, less the idle CPU over as long, by the requests that ended in it", () => {
    const cpu = { pid: 7, us: 300_000, requests: 10_000, window_s: 2 };
    expect(cpuPerRequest({ cpu })).toBe(30);
    // 5 ms of idle CPU per second over 2 s: 10 ms out of 300.
    expect(cpuPerRequest({ cpu }, 5_000)).toBe(29);
    expect(cpuPerRequest({ cpu: { ...cpu, requests: 0 } })).toBeUndefined();
    expect(cpuPerRequest({ cpu: null })).toBeUndefined();
    expect(cpuPerRequest({ cpu: { ...cpu, us: 1_000 } }, 5_000)).toBe(0);
  });
});
