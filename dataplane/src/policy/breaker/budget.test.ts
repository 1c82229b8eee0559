/** The retry budget: a share of the requests in flight, plus a minimum rate (token bucket), on a hand-driven clock. */
import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { RetryBudget } from './budget.js';

describe('retry budget', () => {
  it('allows retries in flight up to percent of the requests in flight', () => {
    const time = new ManualTime(0);
    const budget = new RetryBudget(20, 0, time);
    for (let i = 0; i < 10; i++) budget.started();
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(true); // 2 of 10 = 20 %
    expect(budget.tryRetry()).toBe(false);
    budget.retryEnded();
    expect(budget.tryRetry()).toBe(true); // one ended, one may start
    expect(budget.view()).toEqual({ active: 10, retrying: 2, exhausted: 1 });
  });

  it('beyond the share, allows minRetriesPerSecond, refilled over time and holding one second of them', () => {
    const time = new ManualTime(0);
    const budget = new RetryBudget(0, 4, time);
    budget.started();
    const burst = [1, 2, 3, 4, 5].map(() => budget.tryRetry());
    expect(burst).toEqual([true, true, true, true, false]);
    time.advance(250); // one token
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
    time.advance(10_000); // refills to 4, not 40
    expect([1, 2, 3, 4, 5].map(() => budget.tryRetry())).toEqual([true, true, true, true, false]);
    expect(budget.view().exhausted).toBe(3);
  });

  it('with neither a share nor a rate, refuses every retry', () => {
    const budget = new RetryBudget(0, 0, new ManualTime(0));
    for (let i = 0; i < 100; i++) budget.started();
    expect(budget.tryRetry()).toBe(false);
  });

  it('never counts below zero', () => {
    const budget = new RetryBudget(50, 0, new ManualTime(0));
    budget.ended();
    budget.retryEnded();
    budget.started();
    budget.started();
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
  });
});
