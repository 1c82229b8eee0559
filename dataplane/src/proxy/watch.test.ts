import { describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import { CallWatch, MAX_PERIOD_MS, MIN_PERIOD_MS, watchPeriodMs, type CallLimits, type WatchedCall } from './watch.js';

/** A call as the watch sees it: its phase, whether its client holds it paused, and what it was told. */
class FakeCall implements WatchedCall {
  progress = 0;
  watchedProgress = 0;
  quietSince = 0;
  watched = false;
  older: WatchedCall | undefined = undefined;
  newer: WatchedCall | undefined = undefined;
  head = false;
  paused = false;
  timeouts: number[] = [];
  quietLimitMs(limits: CallLimits): number {
    if (this.paused) return 0;
    return this.head ? limits.bodyTimeoutMs : limits.headersTimeoutMs;
  }
  timedOut(limitMs: number): void {
    this.timeouts.push(limitMs);
  }
}

const LIMITS = { headersTimeoutMs: 800, bodyTimeoutMs: 1600 }; // period 100 ms

function setup(limits: CallLimits = LIMITS) {
  const time = new ManualTime(0);
  const watch = new CallWatch(limits, time, time);
  const step = (ms: number): void => {
    for (let t = 0; t < ms; t += 10) time.advance(10);
  };
  return { time, watch, step };
}

describe('CallWatch', () => {
  it('looks every eighth of the shorter limit, between 10 ms and 500 ms', () => {
    expect(watchPeriodMs({ headersTimeoutMs: 800, bodyTimeoutMs: 1600 })).toBe(100);
    expect(watchPeriodMs({ headersTimeoutMs: 60_000, bodyTimeoutMs: 300_000 })).toBe(MAX_PERIOD_MS);
    expect(watchPeriodMs({ headersTimeoutMs: 40, bodyTimeoutMs: 0 })).toBe(MIN_PERIOD_MS);
    expect(watchPeriodMs({ headersTimeoutMs: 0, bodyTimeoutMs: 2400 })).toBe(300);
    expect(watchPeriodMs({ headersTimeoutMs: 0, bodyTimeoutMs: 0 })).toBe(MAX_PERIOD_MS);
  });

  it('times a silent call out after at least its limit and at most two periods more, once, and forgets it', () => {
    const { watch, step } = setup();
    const call = new FakeCall();
    watch.add(call);
    step(790);
    expect(call.timeouts).toEqual([]);
    step(210);
    expect(call.timeouts).toEqual([800]);
    expect(watch.size).toBe(0);
    step(5000);
    expect(call.timeouts).toEqual([800]);
  });

  it('any progress restarts the quiet time; the limit follows the phase', () => {
    const { watch, step } = setup();
    const call = new FakeCall();
    watch.add(call);
    for (let i = 0; i < 10; i++) {
      step(600);
      call.progress++; // e.g. the request went out, then the head came
    }
    call.head = true;
    expect(call.timeouts).toEqual([]);
    step(1500); // under the body limit
    expect(call.timeouts).toEqual([]);
    step(300);
    expect(call.timeouts).toEqual([1600]);
  });

  it('has no limit while the client holds the call paused, and counts the quiet time from the resume', () => {
    const { watch, step } = setup();
    const call = new FakeCall();
    call.head = true;
    watch.add(call);
    call.paused = true;
    step(10_000);
    expect(call.timeouts).toEqual([]);
    call.paused = false;
    step(1500);
    expect(call.timeouts).toEqual([]);
    step(300);
    expect(call.timeouts).toEqual([1600]);
  });

  it('a phase without a limit never times out', () => {
    const { watch, step } = setup({ headersTimeoutMs: 0, bodyTimeoutMs: 400 });
    const call = new FakeCall();
    watch.add(call);
    step(60_000);
    expect(call.timeouts).toEqual([]);
    expect(watch.size).toBe(1);
  });

  it('runs its timer only while calls are watched', () => {
    const { time, watch, step } = setup();
    expect(time.pending()).toBe(0);
    const a = new FakeCall();
    const b = new FakeCall();
    watch.add(a);
    watch.add(b);
    expect(time.pending()).toBe(1); // one timer for every call
    step(300);
    watch.delete(a);
    watch.delete(b);
    step(100);
    expect(time.pending()).toBe(0);
    watch.add(a);
    expect(time.pending()).toBe(1);
  });
});
