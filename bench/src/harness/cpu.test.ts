import { describe, expect, it } from 'vitest';

import { processCpuMicros, statCpuMicros } from './cpu.js';

/** Spins for about `ms` of CPU time. */
function spin(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

describe('processCpuMicros (Linux /proc)', () => {
  it('counts the CPU time a process spends, finer than a clock tick', async () => {
    await processCpuMicros(process.pid); // the first reading starts libuv's file threads
    // Both readings lie between the process's own counts taken around them (other threads of
    // this process may run meanwhile: they are in both counts).
    const outer0 = process.cpuUsage();
    const before = await processCpuMicros(process.pid);
    const inner0 = process.cpuUsage();
    spin(4);
    const inner = process.cpuUsage(inner0);
    const after = await processCpuMicros(process.pid);
    const outer = process.cpuUsage(outer0);
    expect(before).toBeDefined();
    expect(after).toBeDefined();
    const measured = (after ?? 0) - (before ?? 0);
    expect(measured).toBeGreaterThanOrEqual(inner.user + inner.system - 1000);
    expect(measured).toBeLessThanOrEqual(outer.user + outer.system + 1000);
    // A clock-tick counter can only move in steps of 10 ms.
    expect(measured % 10_000).not.toBe(0);
  });

  it('agrees with the clock-tick count of /proc/<pid>/stat', async () => {
    const fine0 = await processCpuMicros(process.pid);
    const coarse0 = await statCpuMicros(process.pid);
    spin(60);
    const fine1 = await processCpuMicros(process.pid);
    const coarse1 = await statCpuMicros(process.pid);
    const fine = (fine1 ?? 0) - (fine0 ?? 0);
    const coarse = (coarse1 ?? 0) - (coarse0 ?? 0);
    expect(fine).toBeGreaterThanOrEqual(59_000);
    // stat counts whole ticks (10 ms) in each of two fields, at each end.
    expect(Math.abs(fine - coarse)).toBeLessThan(45_000);
  });

  it('is undefined for a process that does not exist', async () => {
    expect(await processCpuMicros(2 ** 22 + 1)).toBeUndefined();
    expect(await processCpuMicros(undefined)).toBeUndefined();
  });
});
