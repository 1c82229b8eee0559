import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../../clock.js';
import { TriggerSet, type TriggerIR } from './engine.js';
import { SystemSignals, type SystemProbe } from './system.js';

const errorRate: TriggerIR = {
  name: 'errors',
  type: 'ErrorRate',
  percent: { activate: 50, deactivate: 10 },
  windowMs: 10_000,
  minSamples: 20,
  holdForMs: 5_000,
};
const latency: TriggerIR = {
  name: 'slow',
  type: 'LatencyP95',
  latency: { activateMs: 200, deactivateMs: 100 },
  windowMs: 2_000,
  minSamples: 10,
  holdForMs: 1_000,
};

describe('TriggerSet', () => {
  it('an error rate over its window stays inactive below the minimum sample, then follows the rate with hysteresis', () => {
    const set = new TriggerSet([errorRate], undefined);
    // 19 failures in 19 calls: 100 %, but under the minimum sample.
    for (let i = 0; i < 19; i++) set.record(1_000, true, 5);
    expect(set.evaluate(1_000, 0)).toEqual([]);
    expect(set.views()[0]).toMatchObject({ active: false, value: undefined, samples: 19 });
    // The 20th call makes the sample: 20 of 20 failed.
    set.record(1_100, false, 5);
    expect(set.evaluate(1_100, 42)).toEqual([{ trigger: 'errors', type: 'ErrorRate', active: true, value: 95 }]);
    expect(set.isActive('errors')).toBe(true);
    expect(set.views()[0]).toMatchObject({ active: true, sinceMs: 42, activations: 1 });
    // 200 good calls: 19 / 220 ≈ 8.6 % < 10 %: calm, but the hold time runs first.
    for (let i = 0; i < 200; i++) set.record(2_000, false, 5);
    expect(set.evaluate(2_000, 0)).toEqual([]);
    expect(set.evaluate(6_099, 0)).toEqual([]);
    expect(set.isActive('errors')).toBe(true);
    const off = set.evaluate(7_000, 0);
    expect(off).toHaveLength(1);
    expect(off[0]).toMatchObject({ trigger: 'errors', active: false });
    expect(set.views()[0]).toMatchObject({ activations: 1, deactivations: 1 });
  });

  it('p95 latency: the 95th percentile of the window crosses the enter threshold, and leaves once the slow calls age out and the exit threshold held', () => {
    const set = new TriggerSet([latency], undefined);
    let t = 10_000;
    // 100 calls: 90 at 20 ms, 10 at 400 ms → p95 = 400 ms.
    for (let i = 0; i < 100; i++) set.record(t, false, i < 90 ? 20 : 400);
    expect(set.evaluate(t, 0)[0]).toMatchObject({ active: true });
    expect(set.views()[0]?.value).toBeCloseTo(400, -1);
    t += 2_000; // the slow calls leave the window
    for (let i = 0; i < 100; i++) set.record(t, false, 30);
    expect(set.evaluate(t, 0)).toEqual([]);
    expect(set.views()[0]?.value).toBeCloseTo(30, 0);
    expect(set.evaluate(t + 999, 0)).toEqual([]);
    expect(set.evaluate(t + 1_000, 0)[0]).toMatchObject({ active: false });
  });

  it('a call without a head (no latency) counts for the error rate only', () => {
    const set = new TriggerSet([errorRate, latency], undefined);
    for (let i = 0; i < 20; i++) set.record(0, true, undefined);
    set.evaluate(0, 0);
    expect(set.isActive('errors')).toBe(true);
    expect(set.isActive('slow')).toBe(false);
    expect(set.views()[1]).toMatchObject({ samples: 0, value: undefined });
    expect(set.recordsCalls).toBe(true);
    expect(set.usesSystem).toBe(false);
  });

  it('CPU, memory and event-loop lag read the mean of the samples taken on the timer over the window', () => {
    const time = new ManualTime(0);
    let cpu = 0;
    let lag = 0;
    const probe: SystemProbe = {
      cpuMs: () => cpu,
      rssBytes: () => 512,
      memoryLimitBytes: 1024,
      takeLoopLagMs: () => lag,
    };
    const system = new SystemSignals(probe, time, time, 1000);
    const set = new TriggerSet(
      [
        { name: 'cpu', type: 'CPU', percent: { activate: 80, deactivate: 50 }, windowMs: 3_000, minSamples: 1, holdForMs: 0 },
        { name: 'mem', type: 'Memory', percent: { activate: 90, deactivate: 70 }, windowMs: 3_000, minSamples: 1, holdForMs: 0 },
        { name: 'lag', type: 'EventLoopLag', latency: { activateMs: 100, deactivateMs: 20 }, windowMs: 2_000, minSamples: 1, holdForMs: 0 },
      ],
      system,
    );
    expect(set.usesSystem).toBe(true);
    system.start();
    // Each second: 900 ms of CPU (90 % of a core), lag 150 ms.
    for (let i = 0; i < 3; i++) {
      cpu += 900;
      lag = 150;
      time.advance(1000);
    }
    const on = set.evaluate(time.now(), 0);
    expect(on.map((t) => t.trigger).sort()).toEqual(['cpu', 'lag']);
    expect(set.views().find((v) => v.name === 'mem')?.value).toBeCloseTo(50);
    expect(set.views().find((v) => v.name === 'cpu')?.value).toBeCloseTo(90);
    // Quiet: 10 % CPU and no lag; the window's mean falls as the busy samples age out.
    for (let i = 0; i < 3; i++) {
      cpu += 100;
      lag = 0;
      time.advance(1000);
    }
    const off = set.evaluate(time.now(), 0);
    expect(off.map((t) => t.trigger).sort()).toEqual(['cpu', 'lag']);
    system.stop();
    expect(time.pending()).toBe(0);
  });
});
