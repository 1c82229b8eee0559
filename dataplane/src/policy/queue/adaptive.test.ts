import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { GradientController, type GradientOptions, type LimitChange } from './adaptive.js';
import { Gate } from './gate.js';
import { Ticket, type TicketOwner } from './ticket.js';

const OPTIONS: GradientOptions = {
  minLimit: 3,
  maxLimit: 1000,
  buffer: 0.25,
  sampleIntervalMs: 100,
  minRttIntervalMs: 10_000,
  minRttSamples: 10,
};

/** One sample window: a call ends (the window opens), and another `sampleIntervalMs` later (it closes). */
function window(c: GradientController, time: ManualTime, rtt: number): void {
  c.sample(rtt, c.epoch);
  time.advance(100);
  c.sample(rtt, c.epoch);
}

describe('GradientController', () => {
  it('measures minRTT at minLimit first, then grows while latency stays at minRTT and shrinks when it rises', () => {
    const time = new ManualTime(0);
    const changes: [number, LimitChange][] = [];
    const c = new GradientController(
      OPTIONS,
      time,
      () => 0,
      (limit, _prev, why) => changes.push([limit, why]),
    );
    for (let i = 0; i < 9; i++) c.sample(20 + i, c.epoch);
    expect(c.probing).toBe(true);
    expect(c.limit).toBe(3);
    c.sample(100, c.epoch); // the tenth: median of 20..28 and 100 is 24.5
    expect(c.probing).toBe(false);
    expect(c.minRtt).toBe(24.5);
    let last = c.limit;
    for (let i = 0; i < 5; i++) {
      window(c, time, 24.5);
      expect(c.limit).toBeGreaterThan(last);
      last = c.limit;
    }
    // A window closes only sampleInterval after its first call ended, with the median of its calls.
    c.sample(24.5 * 3, c.epoch);
    time.advance(99);
    c.sample(24.5 * 3, c.epoch);
    expect(c.limit).toBe(last);
    time.advance(1);
    c.sample(24.5 * 3, c.epoch);
    expect(c.limit).toBeLessThan(last);
    expect(changes.every(([, why]) => why === 'gradient')).toBe(true);
  });

  it('re-measures minRTT every minRttInterval at minLimit and then returns to the limit it had', () => {
    const time = new ManualTime(0);
    const changes: [number, LimitChange][] = [];
    const c = new GradientController(
      { ...OPTIONS, minRttSamples: 2 },
      time,
      () => 0,
      (limit, _p, why) => changes.push([limit, why]),
    );
    c.sample(10, c.epoch);
    c.sample(10, c.epoch);
    for (let i = 0; i < 4; i++) window(c, time, 10);
    const grown = c.limit;
    expect(grown).toBeGreaterThan(10);
    time.advance(10_000);
    c.sample(10, c.epoch);
    expect(c.probing).toBe(true);
    expect(c.limit).toBe(3);
    c.sample(30, c.epoch);
    c.sample(30, c.epoch);
    expect(c.probing).toBe(false);
    expect(c.minRtt).toBe(30);
    expect(c.limit).toBe(grown);
    expect(changes.slice(-2).map(([, why]) => why)).toEqual(['probe', 'restore']);
  });

  it('stays within [minLimit, maxLimit]', () => {
    const time = new ManualTime(0);
    const c = new GradientController({ ...OPTIONS, maxLimit: 20, minRttSamples: 1 }, time, () => 0);
    c.sample(10, c.epoch);
    for (let i = 0; i < 50; i++) window(c, time, 1);
    expect(c.limit).toBe(20);
    for (let i = 0; i < 50; i++) window(c, time, 10_000);
    expect(c.limit).toBe(3);
  });
});

/** A small seeded generator (mulberry32), so that the simulation is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An upstream of known capacity: `slots` calls are served at once, each in `serviceMs` ± 20 %;
 * the rest wait in its own first-in first-out queue (as a saturated server's accept queue does).
 * Capacity = slots / serviceMs calls per ms. The gate in front of it gets 3× that, for `seconds`.
 */
function simulate(slots: number, serviceMs: number, seconds: number) {
  const time = new ManualTime(0);
  const gate = new Gate(
    {
      classes: [{ sharePercent: 0 }],
      quantum: 1,
      weights: new Map(),
      maxFlows: 10,
      maxInFlight: 1000,
      maxQueued: 500,
      adaptive: { minLimit: 3, buffer: 0.25, sampleIntervalMs: 100, minRttIntervalMs: 30_000, minRttSamples: 10 },
    },
    time,
    time,
    () => 0.5,
  );
  const random = seeded(slots * 1000 + serviceMs);
  let busy = 0;
  const backlog: { t: Ticket; sentAt: number }[] = [];
  const done: { at: number; rtt: number }[] = [];
  const start = (t: Ticket, sentAt: number): void => {
    busy++;
    time.after(serviceMs * (0.8 + 0.4 * random()), () => {
      busy--;
      const rtt = time.now() - sentAt;
      done.push({ at: time.now(), rtt });
      const next = backlog.shift();
      if (next) start(next.t, next.sentAt);
      gate.release(t, rtt);
    });
  };
  const send = (t: Ticket): void => {
    if (busy < slots) start(t, time.now());
    else backlog.push({ t, sentAt: time.now() });
  };
  const owner: TicketOwner = { admitted: (t) => send(t), rejected: () => {} };
  const capacityPerMs = slots / serviceMs;
  const tickMs = 5;
  let debt = 0;
  const arrive = (): void => {
    debt += 3 * capacityPerMs * tickMs;
    for (; debt >= 1; debt--) {
      const t = new Ticket(0, 'x', time.now() + 2_000, owner);
      if (gate.acquire(t) === 'admitted') send(t);
    }
    if (time.now() < seconds * 1000) time.after(tickMs, arrive);
  };
  arrive();
  // The limit every 100 ms.
  const limits: { at: number; limit: number }[] = [];
  for (let t = 0; t < seconds * 10; t++) {
    time.advance(100);
    limits.push({ at: time.now(), limit: gate.limit });
  }
  return { gate, done, capacityPerMs, limits };
}

describe('adaptive concurrency against an upstream of known capacity', () => {
  it.each([
    [10, 50],
    [40, 50],
    [20, 200],
  ])('finds the knee of %i slots × %i ms: throughput ≥ 95 %% of capacity, latency near minRTT, no hand-set cap', (slots, serviceMs) => {
    const seconds = 60;
    const { done, capacityPerMs, limits } = simulate(slots, serviceMs, seconds);
    // The last 50 s, after the start-up (a minRTT measurement at 30 s included).
    const from = 10_000;
    const recent = done.filter((d) => d.at >= from);
    const throughput = recent.length / (seconds * 1000 - from);
    expect(throughput / capacityPerMs).toBeGreaterThanOrEqual(0.95);
    // Settled near the number of slots (about 1.25 × slots + headroom), far below the 1,000 it may go up to.
    const settled = limits.filter((l) => l.at >= from);
    const mean = settled.reduce((n, l) => n + l.limit, 0) / settled.length;
    expect(mean).toBeGreaterThanOrEqual(slots);
    expect(mean).toBeLessThanOrEqual(slots * 2);
    expect(Math.max(...settled.map((l) => l.limit))).toBeLessThanOrEqual(slots * 4);
    // The upstream's own queue stays short: median latency within the buffer and some headroom.
    const rtts = recent.map((d) => d.rtt).sort((a, b) => a - b);
    expect(rtts[rtts.length >> 1]).toBeLessThanOrEqual(serviceMs * 2);
  });
});
