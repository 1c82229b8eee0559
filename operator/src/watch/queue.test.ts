import { describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import { CoalescingQueue } from './queue.js';

function setup(work: () => Promise<void> = async () => {}) {
  const time = new ManualTime();
  const runs: number[] = [];
  const queue = new CoalescingQueue(
    async () => {
      runs.push(time.now());
      await work();
    },
    { debounceMs: 100, maxDelayMs: 1000, clock: time, scheduler: time, onError: () => {} },
  );
  return { time, runs, queue, start: time.now() };
}

describe('CoalescingQueue', () => {
  it('runs once, 100 ms after the last of a burst', () => {
    const { time, runs, queue, start } = setup();
    for (let i = 0; i < 5; i++) {
      queue.trigger();
      time.advance(50);
    }
    expect(runs).toEqual([]);
    time.advance(50);
    expect(runs).toEqual([start + 300]);
    expect(queue.depth).toBe(0);
  });

  it('flushes within 1 s of the first change while changes keep coming', async () => {
    const { time, runs, queue, start } = setup();
    for (let i = 0; i < 40; i++) {
      queue.trigger();
      time.advance(50);
      await new Promise((r) => setImmediate(r));
    }
    expect(runs[0]).toBe(start + 1000);
    expect(runs.length).toBe(2);
    expect((runs[1] ?? 0) - (runs[0] ?? 0)).toBeLessThanOrEqual(1000);
  });

  it('never runs two reconciles at once and catches up after a slow one', async () => {
    let release: () => void = () => {};
    const { time, runs, queue } = setup(() => new Promise<void>((r) => (release = r)));
    queue.trigger();
    time.advance(100);
    expect(runs.length).toBe(1);
    queue.trigger();
    queue.trigger();
    time.advance(500);
    expect(runs.length).toBe(1); // still running
    expect(queue.depth).toBe(2);
    release();
    await new Promise((r) => setImmediate(r));
    time.advance(100);
    expect(runs.length).toBe(2);
  });

  it('reports errors and keeps working', async () => {
    const errors: unknown[] = [];
    const time = new ManualTime();
    let fail = true;
    const queue = new CoalescingQueue(
      async () => {
        if (fail) throw new Error('boom');
      },
      { debounceMs: 10, maxDelayMs: 100, clock: time, scheduler: time, onError: (e) => errors.push(e) },
    );
    queue.trigger();
    time.advance(10);
    await new Promise((r) => setImmediate(r));
    expect(errors).toHaveLength(1);
    fail = false;
    queue.trigger();
    time.advance(10);
    await new Promise((r) => setImmediate(r));
    expect(errors).toHaveLength(1);
  });
});
