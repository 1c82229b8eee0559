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
    const before = await processCpuMicros(process.pid);
    const usage0 = process.cpuUsage();
    spin(4);
    const usage = process.cpuUsage(usage0);
    const after = await processCpuMicros(process.pid);
    expect(before).toBeDefined();
    expect(after).toBeDefined();
    const measured = (after ?? 0) - (before ?? 0);
    const spent = usage.user + usage.system;
    // Four ms of spinning (and the reading's own work): a 10 ms clock tick would read 0 or 10 000 µs.
    expect(measured).toBeGreaterThanOrEqual(spent - 1000);
    expect(measured).toBeLessThan(spent + 4000);
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
