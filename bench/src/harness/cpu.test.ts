import { describe, expect, it } from 'vitest';

import { cpuBetween, type CpuReading, CpuWindow, readCpu } from './cpu.js';

/** Spins for about `ms` of CPU time. */
function spin(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

describe('readCpu (Linux /proc)', () => {
  /** The threads' fine counters of a reading, summed. */
  const fine = (r: CpuReading | undefined): number => [...(r?.threads?.values() ?? [])].reduce((a, b) => a + b, 0);

  it('counts the CPU time a process spends, finer than a clock tick', async () => {
    await readCpu(process.pid); // the first reading starts libuv's file threads
    // Both readings lie between the process's own counts taken around them (other threads of
    // this process may run meanwhile: they are in both counts).
    const outer0 = process.cpuUsage();
    const before = await readCpu(process.pid);
    const inner0 = process.cpuUsage();
    spin(4);
    const inner = process.cpuUsage(inner0);
    const after = await readCpu(process.pid);
    const outer = process.cpuUsage(outer0);
    expect(before?.threads).toBeDefined();
    expect(after?.threads).toBeDefined();
    const measured = cpuBetween(before as CpuReading, after as CpuReading) ?? 0;
    expect(measured).toBe(fine(after) - fine(before)); // the fine counters, every thread still there
    expect(measured).toBeGreaterThanOrEqual(inner.user + inner.system - 1000);
    expect(measured).toBeLessThanOrEqual(outer.user + outer.system + 1000);
    // A clock-tick counter can only move in steps of 10 ms.
    expect(measured % 10_000).not.toBe(0);
  });

  it('has a clock-tick total (/proc/<pid>/stat) that agrees with the fine counters', async () => {
    const r0 = await readCpu(process.pid);
    spin(60);
    const r1 = await readCpu(process.pid);
    const coarse = (r1?.total ?? 0) - (r0?.total ?? 0);
    expect(fine(r1) - fine(r0)).toBeGreaterThanOrEqual(59_000);
    // stat counts whole ticks (10 ms) in each of two fields, at each end.
    expect(Math.abs(fine(r1) - fine(r0) - coarse)).toBeLessThan(45_000);
    expect(coarse % 10_000).toBe(0);
  });

  it('reads every thread by its id', async () => {
    const r = await readCpu(process.pid);
    expect(r?.threads?.get(process.pid)).toBeGreaterThan(0); // the main thread's id is the pid
  });

  it('is undefined for a process that does not exist', async () => {
    expect(await readCpu(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('cpuBetween', () => {
  /** A reading: each thread's run time by id (µs), and utime + stime. */
  const reading = (threads: Record<number, number> | undefined, total: number | undefined): CpuReading => ({
    threads: threads && new Map(Object.entries(threads).map(([tid, us]) => [Number(tid), us])),
    total,
  });
  const before = reading({ 1: 1000, 2: 500 }, 10_000);

  it("takes the threads' fine counters when every thread of the first reading is in the second", () => {
    // Thread 3 started in between: all of its time is the window's.
    expect(cpuBetween(before, reading({ 1: 1700, 2: 600, 3: 50 }, 20_000))).toBe(850);
  });

  it('falls back to utime + stime when a thread ended in between (its fine counter went with it)', () => {
    expect(cpuBetween(before, reading({ 1: 1700 }, 20_000))).toBe(10_000);
    // A thread id reused by a new thread: its counter went back.
    expect(cpuBetween(before, reading({ 1: 1700, 2: 20 }, 20_000))).toBe(10_000);
  });

  it('never mixes the counters: one missing at either end means the other, or nothing', () => {
    expect(cpuBetween(reading(undefined, 10_000), reading({ 1: 1700 }, 30_000))).toBe(20_000);
    expect(cpuBetween(reading({ 1: 1000 }, 10_000), reading(undefined, 30_000))).toBe(20_000);
    expect(cpuBetween(reading({ 1: 1000 }, undefined), reading(undefined, 30_000))).toBeUndefined();
    expect(cpuBetween(before, reading({ 1: 1700 }, undefined))).toBeUndefined();
  });
});

describe('CpuWindow', () => {
  /** A process whose CPU counter and clock the test moves by hand; a reading resolves when `finish` is called. */
  function fakeProcess() {
    let cpuUs = 0;
    let ns = 0;
    const pending: (() => void)[] = [];
    const read = (pid: number): Promise<CpuReading | undefined> => {
      expect(pid).toBe(42);
      return new Promise((resolve) =>
        pending.push(() => resolve(cpuUs < 0 ? undefined : { threads: new Map([[42, cpuUs]]), total: undefined })),
      );
    };
    return {
      read,
      now: () => ns,
      advance(us: number, ms: number) {
        cpuUs += us;
        ns += ms * 1e6;
      },
      fail() {
        cpuUs = -1;
      },
      async finish() {
        const next = pending.shift();
        if (next === undefined) throw new Error('no reading pending');
        next();
        await Promise.resolve();
      },
    };
  }

  it('counts the CPU and the requests between its two readings only', async () => {
    const p = fakeProcess();
    const w = new CpuWindow(42, p.now, p.read);
    // Warm-up: CPU and requests before the window opens are not the window's.
    p.advance(900_000, 500);
    for (let i = 0; i < 1000; i++) w.ended();
    const opened = w.open();
    await p.finish();
    await opened;
    p.advance(200_000, 2000);
    for (let i = 0; i < 400; i++) w.ended();
    const closed = w.close();
    await p.finish();
    await closed;
    // After it closes: nothing more counts.
    p.advance(500_000, 100);
    w.ended();
    expect(w.result()).toEqual({ pid: 42, us: 200_000, requests: 400, window_s: 2 });
  });

  it('counts a request that ends while a reading is taken as half', async () => {
    const p = fakeProcess();
    const w = new CpuWindow(42, p.now, p.read);
    const opened = w.open();
    w.ended();
    w.ended(); // two end during the opening reading: one counts
    await p.finish();
    await opened;
    for (let i = 0; i < 10; i++) w.ended();
    const closed = w.close();
    w.ended();
    w.ended();
    w.ended();
    w.ended(); // four during the closing reading: two count
    await p.finish();
    await closed;
    expect(w.result()?.requests).toBe(1 + 10 + 2);
  });

  it('has no figures when it never opened, or a reading failed', async () => {
    const p = fakeProcess();
    const never = new CpuWindow(42, p.now, p.read);
    await never.close();
    expect(never.result()).toBeNull();
    const failed = new CpuWindow(42, p.now, p.read);
    const opened = failed.open();
    await p.finish();
    await opened;
    p.fail();
    const closed = failed.close();
    await p.finish();
    await closed;
    expect(failed.result()).toBeNull();
  });
});
