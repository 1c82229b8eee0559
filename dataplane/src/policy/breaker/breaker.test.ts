/** The breaker's state machine and windows on a hand-driven clock: every transition, window type and threshold. */
import type { BreakerIR } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { CircuitBreaker, REJECTED, type BreakerState } from './breaker.js';
import { BUCKETS, CountWindow, TimeWindow } from './window.js';

function ir(over: Partial<BreakerIR> = {}): BreakerIR {
  return {
    failureStatusCodes: [500, 502, 503, 504],
    countTimeouts: true,
    countConnectErrors: true,
    failureRatePercent: 50,
    window: { type: 'Count', size: 10 },
    minimumCalls: 4,
    halfOpen: { maxProbes: 2, successThreshold: 2, probeTimeoutMs: 5_000 },
    openDuration: { baseMs: 1_000, maxMs: 8_000, multiplierPercent: 200, jitterPercent: 0 },
    ...over,
  };
}

function breaker(settings: BreakerIR, random = () => 0.5) {
  const time = new ManualTime(0);
  const transitions: string[] = [];
  const b = new CircuitBreaker(settings, {
    clock: time,
    timers: time,
    random,
    onTransition: (from: BreakerState, to: BreakerState) => transitions.push(`${from}→${to}`),
  });
  /** Admits and records one call. */
  const call = (failed: boolean, slow = false) => {
    const p = b.acquire();
    expect(p).not.toBe(REJECTED);
    b.record(p, failed, slow);
  };
  return { b, time, transitions, call };
}

describe('windows', () => {
  it('a count window holds the last size calls', () => {
    const w = new CountWindow(3);
    w.add(0, true, false);
    w.add(0, true, true);
    w.add(0, false, true);
    expect([w.calls(), w.failures(), w.slow()]).toEqual([3, 2, 2]);
    w.add(0, false, false); // pushes out the first failure
    expect([w.calls(), w.failures(), w.slow()]).toEqual([3, 1, 2]);
    w.add(0, false, false);
    w.add(0, false, false);
    expect([w.calls(), w.failures(), w.slow()]).toEqual([3, 0, 0]);
    w.reset();
    expect(w.calls()).toBe(0);
  });

  it('a time window holds the calls of its duration, bucket by bucket', () => {
    const w = new TimeWindow(2_000);
    const bucket = 2_000 / BUCKETS;
    w.add(0, true, false);
    w.add(bucket * 5, false, true);
    expect([w.calls(bucket * 5), w.failures(bucket * 5), w.slow(bucket * 5)]).toEqual([2, 1, 1]);
    // The first call's bucket leaves after a full window; the second's a little later.
    expect(w.calls(2_000 - 1)).toBe(2);
    expect(w.calls(2_000)).toBe(1);
    expect(w.failures(2_000)).toBe(0);
    expect(w.calls(bucket * 5 + 2_000)).toBe(0);
    // A long quiet spell empties the window at once (at most BUCKETS buckets are cleared).
    w.add(1_000_000, true, false);
    expect(w.calls(1_000_000)).toBe(1);
    expect(w.calls(1_002_000)).toBe(0);
  });
});

describe('CLOSED → OPEN', () => {
  it('opens on consecutive failures, whatever the rate', () => {
    const { b, call, transitions } = breaker(ir({ consecutiveFailures: 3, minimumCalls: 100, window: { type: 'Count', size: 100 } }));
    for (let i = 0; i < 10; i++) call(false);
    call(true);
    call(true);
    expect(b.state).toBe('closed');
    call(false); // a success breaks the run
    call(true);
    call(true);
    expect(b.state).toBe('closed');
    call(true);
    expect(b.state).toBe('open');
    expect(transitions).toEqual(['closed→open']);
  });

  it('opens on the failure rate only once the window holds minimumCalls', () => {
    const { b, call } = breaker(ir({ minimumCalls: 4, failureRatePercent: 50 }));
    call(true);
    call(true);
    call(true);
    expect(b.state).toBe('closed'); // 3 calls: under the minimum, 100 % failures or not
    call(false);
    expect(b.state).toBe('open'); // 4 calls, 75 %
  });

  it('stays closed below the failure rate, over a count window that forgets', () => {
    const { b, call } = breaker(ir({ window: { type: 'Count', size: 4 }, minimumCalls: 4, failureRatePercent: 75 }));
    for (const failed of [true, true, false, false, true, false, true, false]) {
      call(failed);
      expect(b.state).toBe('closed'); // never 3 of the last 4
    }
    call(true);
    call(true); // last 4: false, true, true... → true,false,true,true = 3 of 4
    expect(b.state).toBe('open');
  });

  it('opens on the slow-call rate', () => {
    const { b, call } = breaker(ir({ slowCall: { thresholdMs: 100, ratePercent: 60 }, failureRatePercent: 100 }));
    call(false, true);
    call(false, true);
    call(false, false);
    call(false, false);
    expect(b.state).toBe('closed'); // 50 % slow
    call(false, true);
    expect(b.state).toBe('open'); // 60 %
  });

  it('a time window lets old failures go', () => {
    const { b, call, time } = breaker(ir({ window: { type: 'Time', durationMs: 1_000 }, minimumCalls: 4, failureRatePercent: 50 }));
    call(true);
    call(true);
    call(false);
    time.advance(1_100); // the three calls left the window
    call(true);
    call(false);
    call(false);
    expect(b.state).toBe('closed'); // 1 failure of 3 calls in the window (under minimumCalls, too)
    call(false);
    expect(b.state).toBe('closed'); // 1 of 4
    call(true);
    call(true);
    expect(b.state).toBe('open'); // 3 of 6
  });
});

describe('OPEN', () => {
  it('fails fast until the open duration has passed, then lets probes through', () => {
    const { b, call, time, transitions } = breaker(ir({ consecutiveFailures: 1 }));
    call(true);
    expect(b.acquire()).toBe(REJECTED);
    expect(b.rejects()).toBe(true);
    expect(b.retryAfterMs()).toBe(1_000);
    time.advance(999);
    expect(b.acquire()).toBe(REJECTED);
    expect(b.retryAfterMs()).toBe(1);
    time.advance(1);
    expect(b.state).toBe('half_open');
    expect(b.acquire()).not.toBe(REJECTED);
    expect(transitions).toEqual(['closed→open', 'open→half_open']);
  });

  it('backs off exponentially on repeated trips, capped at max, and starts over after closing', () => {
    const { b, call, time } = breaker(
      ir({ consecutiveFailures: 1, halfOpen: { maxProbes: 1, successThreshold: 1, probeTimeoutMs: 50_000 } }),
    );
    call(true);
    const durations: number[] = [];
    for (let trip = 0; trip < 5; trip++) {
      durations.push(b.retryAfterMs());
      time.advance(b.retryAfterMs());
      b.record(b.acquire(), true, false); // the probe fails: open again
    }
    expect(durations).toEqual([1_000, 2_000, 4_000, 8_000, 8_000]);
    time.advance(b.retryAfterMs());
    b.record(b.acquire(), false, false); // the probe succeeds: closed
    expect(b.state).toBe('closed');
    call(true);
    expect(b.retryAfterMs()).toBe(1_000); // trips start over
  });

  it('jitters the open duration within jitterPercent, never past max', () => {
    const seen: number[] = [];
    for (const r of [0, 0.25, 0.5, 0.99]) {
      const { b, call } = breaker(
        ir({ consecutiveFailures: 1, openDuration: { baseMs: 1_000, maxMs: 1_050, multiplierPercent: 200, jitterPercent: 10 } }),
        () => r,
      );
      call(true);
      seen.push(b.retryAfterMs());
    }
    expect(seen[0]).toBe(900);
    expect(seen[1]).toBe(950);
    expect(seen[2]).toBe(1_000);
    expect(seen[3]).toBe(1_050); // 1,098 capped at max
  });
});

describe('HALF_OPEN', () => {
  function halfOpen(over: Partial<BreakerIR> = {}) {
    const h = breaker(ir({ consecutiveFailures: 1, ...over }));
    h.call(true);
    h.time.advance(h.b.retryAfterMs());
    expect(h.b.state).toBe('half_open');
    return h;
  }

  it('admits at most maxProbes at once; the others fail fast without waiting', () => {
    const { b } = halfOpen();
    const p1 = b.acquire();
    const p2 = b.acquire();
    expect([p1, p2].every((p) => p !== REJECTED)).toBe(true);
    expect(b.acquire()).toBe(REJECTED);
    expect(b.rejects()).toBe(true);
    expect(b.retryAfterMs()).toBe(1_000);
    b.release(p1); // a neutral outcome frees its slot
    expect(b.acquire()).not.toBe(REJECTED);
  });

  it('closes after successThreshold successful probes', () => {
    const { b, transitions } = halfOpen();
    const p1 = b.acquire();
    b.record(p1, false, false);
    expect(b.state).toBe('half_open');
    b.record(b.acquire(), false, false);
    expect(b.state).toBe('closed');
    expect(transitions.at(-1)).toBe('half_open→closed');
    expect(b.acquire()).not.toBe(REJECTED);
  });

  it('opens again on one failed probe, and on a slow one when slow calls count', () => {
    const failed = halfOpen();
    failed.b.record(failed.b.acquire(), false, false);
    failed.b.record(failed.b.acquire(), true, false);
    expect(failed.b.state).toBe('open');
    expect(failed.b.retryAfterMs()).toBe(2_000);

    const slow = halfOpen({ slowCall: { thresholdMs: 10, ratePercent: 100 } });
    slow.b.record(slow.b.acquire(), false, true);
    expect(slow.b.state).toBe('open');
  });

  it('times out a hung probe: it counts as failed', () => {
    const { b, time } = halfOpen({ halfOpen: { maxProbes: 1, successThreshold: 1, probeTimeoutMs: 3_000 } });
    const hung = b.acquire();
    time.advance(2_999);
    expect(b.state).toBe('half_open');
    time.advance(1);
    expect(b.state).toBe('open');
    b.record(hung, false, false); // its late answer changes nothing
    expect(b.state).toBe('open');
  });

  it('ignores outcomes of calls admitted before the last transition', () => {
    const { b, call } = breaker(ir({ consecutiveFailures: 2 }));
    const early = b.acquire();
    call(true);
    call(true); // open
    b.record(early, false, false);
    expect(b.state).toBe('open');
  });
});

describe('view', () => {
  it('shows the window, the run of failures and the time left open', () => {
    const { b, call, time } = breaker(ir({ consecutiveFailures: 3, failureRatePercent: 100 }));
    call(true);
    call(false);
    call(true);
    expect(b.view()).toMatchObject({ state: 'closed', calls: 3, failures: 2, consecutiveFailures: 1, trips: 0 });
    call(true);
    call(true);
    time.advance(400);
    expect(b.view()).toMatchObject({ state: 'open', openForMs: 600, trips: 1 });
  });
});
