import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { createMemoryStore } from './memory-store.js';
import { ALG, type LimitOp } from './types.js';

const tb = (key: string, o: Partial<LimitOp> = {}): LimitOp => ({
  key,
  alg: ALG.TokenBucket,
  limit: 1,
  periodMs: 60_000,
  burst: 1,
  cost: 1,
  shadow: false,
  maxWaitMs: -1,
  ...o,
});

describe('memory store', () => {
  it('holds at most maxKeys counters however many distinct keys arrive', () => {
    const time = new ManualTime();
    const store = createMemoryStore({ clock: time, maxKeys: 1000 });
    for (let i = 0; i < 200_000; i++) store.checkSync([tb(`ip:${i}`)]);
    expect(store.size()).toBe(1000);
  });

  it('evicts the least recently used counter; a used one keeps its state', () => {
    const time = new ManualTime();
    const store = createMemoryStore({ clock: time, maxKeys: 64 });
    expect(store.checkSync([tb('abuser')]).allowed).toBe(true);
    for (let i = 0; i < 1000; i++) {
      // The abuser keeps knocking (rejected: read, not written) while a scan of keys goes by.
      expect(store.checkSync([tb('abuser')]).allowed).toBe(false);
      store.checkSync([tb(`scan:${i}`)]);
    }
    expect(store.size()).toBe(64);
    // An idle counter is forgotten: it starts with a full bucket.
    expect(store.checkSync([tb('scan:0')]).allowed).toBe(true);
  });

  it('keeps sliding logs bounded by the limit and drops them with their counter', () => {
    const time = new ManualTime();
    const store = createMemoryStore({ clock: time, maxKeys: 64 });
    const log = (key: string): LimitOp => ({ ...tb(key), alg: ALG.SlidingLog, limit: 3, periodMs: 1000 });
    let admitted = 0;
    for (let i = 0; i < 10_000; i++) {
      time.advance(7);
      if (store.checkSync([log('a')]).allowed) admitted++;
    }
    // 70 s at 3 per second.
    expect(admitted).toBeGreaterThanOrEqual(208);
    expect(admitted).toBeLessThanOrEqual(213);
    for (let i = 0; i < 100; i++) store.checkSync([log(`other:${i}`)]);
    expect(store.size()).toBe(64);
  });

  it('is all or nothing across many counters', () => {
    const time = new ManualTime();
    const store = createMemoryStore({ clock: time, maxKeys: 64 });
    const ops = Array.from({ length: 20 }, (_, i) => tb(`k${i}`, { limit: 5, burst: 5 }));
    ops.push(tb('tight'));
    expect(store.checkSync(ops).allowed).toBe(true);
    expect(store.checkSync(ops).allowed).toBe(false);
    expect(store.checkSync(ops.slice(0, 20)).outcomes.every((o) => o.remaining === 3)).toBe(true);
  });
});
