import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import type { CachedResponse } from './entry.js';
import { Flights, MAX_FOLLOWERS } from './flights.js';

const response: CachedResponse = { status: 200, headers: {}, body: Buffer.from('x'), storedAt: 0, freshUntil: 1, tags: [] };

/** A follower of `key` arriving now waits exactly `ms` on the injected clock, then is sent upstream (undefined). */
async function expectSentUpstreamAfter(time: ManualTime, flights: Flights, key: string, ms: number): Promise<void> {
  let got: unknown = 'pending';
  void flights
    .get(key)
    ?.follow()
    ?.then((r) => (got = r));
  time.advance(ms - 1);
  await Promise.resolve();
  expect(got).toBe('pending');
  time.advance(1);
  await Promise.resolve();
  await Promise.resolve();
  expect(got).toBeUndefined();
}

describe('single-flight', () => {
  it('followers of a key get the leader’s answer; the flight then leaves the table', async () => {
    const time = new ManualTime(0);
    const flights = new Flights(10, time, time);
    const flight = flights.lead('k', 5000);
    expect(flight).toBeDefined();
    expect(flights.lead('k', 5000)).toBeUndefined(); // one flight per key
    const waits = Array.from({ length: 100 }, () => flights.get('k')?.follow());
    expect(flight?.followers).toBe(100);
    flight?.settle({ response, stale: false });
    const results = await Promise.all(waits);
    expect(results.every((r) => r?.response === response && !r.stale)).toBe(true);
    expect(flights.get('k')).toBeUndefined();
    expect(flights.lead('k', 5000)).toBeDefined();
  });

  it('followers go upstream themselves after maxWait (injected timers), and later answers reach nobody', async () => {
    const time = new ManualTime(0);
    const flights = new Flights(10, time, time);
    const flight = flights.lead('k', 5000);
    expect(time.pending()).toBe(0); // no follower, no timer
    const wait = flights.get('k')?.follow();
    expect(time.pending()).toBe(1);
    let got: unknown = 'pending';
    void wait?.then((r) => (got = r));
    time.advance(4999);
    await Promise.resolve();
    expect(got).toBe('pending');
    time.advance(1);
    await wait;
    expect(got).toBeUndefined();
    expect(flights.get('k')).toBeUndefined(); // the next request leads a new flight
    flight?.settle({ response, stale: false }); // no effect
    expect(flight?.settled).toBe(true);
  });

  it('takes off when the leader says (its own reading of the clock), not when the table is asked', async () => {
    const time = new ManualTime(1000);
    const flights = new Flights(10, time, time);
    expect(flights.lead('k', 100, 950)?.startedAt).toBe(950);
    await expectSentUpstreamAfter(time, flights, 'k', 50); // 950 + 100
    expect(flights.lead('j', 100)?.startedAt).toBe(1050);
  });

  it('maxWait counts from the take-off: a follower arriving late waits only what is left', async () => {
    const time = new ManualTime(0);
    const flights = new Flights(10, time, time);
    flights.lead('k', 5000);
    time.advance(4000);
    await expectSentUpstreamAfter(time, flights, 'k', 1000);
    // Past maxWait already: nothing to wait for.
    flights.lead('j', 10);
    time.advance(10);
    expect(flights.get('j')?.follow()).toBeUndefined();
  });

  it('an answer that cannot be shared sends the followers upstream', async () => {
    const flights = new Flights(10, new ManualTime(0), new ManualTime(0));
    const flight = flights.lead('k', 5000);
    const wait = flights.get('k')?.follow();
    flight?.settle(undefined);
    expect(await wait).toBeUndefined();
    expect(flights.get('k')?.follow()).toBeUndefined();
  });

  it('is bounded: flights per table and followers per flight', () => {
    const flights = new Flights(2, new ManualTime(0), new ManualTime(0));
    expect(flights.lead('a', 1)).toBeDefined();
    expect(flights.lead('b', 1)).toBeDefined();
    expect(flights.lead('c', 1)).toBeUndefined();
    const flight = flights.get('a');
    for (let i = 0; i < MAX_FOLLOWERS; i++) void flight?.follow();
    expect(flight?.follow()).toBeUndefined();
  });
});
