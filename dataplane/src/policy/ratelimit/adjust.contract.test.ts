/**
 * Settling LLM-token reservations: the adjustments of every algorithm, against the memory store
 * and the Redis store (the Lua script, on the real Redis at 127.0.0.1:6379 with a unique key
 * prefix) alike, both driven by one manual clock. A counter's state is read by probing it with a
 * cost no level can admit (rejected: nothing is charged, the outcome shows what is left).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisStore, type RedisLimitStore } from './redis-store.js';
import { ALG, type AlgCode, type LimitOp, type LimitStore } from './types.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `test:rl:adjust:${randomUUID()}:`;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { enableOfflineQueue: true, maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
});

afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

interface Harness {
  time: ManualTime;
  store: LimitStore;
}

const stores: { name: string; make: () => Harness }[] = [
  {
    name: 'memory',
    make: () => {
      const time = new ManualTime();
      return { time, store: createMemoryStore({ clock: time, maxKeys: 1000 }) };
    },
  },
  {
    name: 'redis',
    make: () => {
      const time = new ManualTime();
      return { time, store: createRedisStore({ redis, prefix: PREFIX, testNow: () => time.now() }) };
    },
  },
];

let seq = 0;
function op(alg: AlgCode, cost: number, key?: string): LimitOp {
  return { key: key ?? `a${seq++}`, alg, limit: 100, periodMs: 1000, burst: 100, cost, shadow: false, maxWaitMs: -1 };
}

describe.each(stores)('$name store: settling reservations', ({ make }) => {
  /** What the counter has left now (a probe that cannot be admitted charges nothing). */
  async function left(store: LimitStore, o: LimitOp): Promise<number> {
    const r = await store.check([{ ...o, cost: 1_000_000 }]);
    expect(r.allowed).toBe(false);
    return r.outcomes[0]?.remaining ?? NaN;
  }

  it('token bucket: a refund refills up to the capacity, never beyond; a charge may leave the bucket in debt', async () => {
    const { time, store } = make();
    const o = op(ALG.TokenBucket, 60);
    expect((await store.check([o])).allowed).toBe(true);
    expect(await left(store, o)).toBe(40);
    await store.adjust([{ op: o, delta: -30, sinceMs: 0 }]);
    expect(await left(store, o)).toBe(70);
    await store.adjust([{ op: o, delta: -1000, sinceMs: 0 }]);
    expect(await left(store, o)).toBe(100);
    expect((await store.check([{ ...o, cost: 90 }])).allowed).toBe(true);
    await store.adjust([{ op: o, delta: 50, sinceMs: 0 }]);
    // 10 − 50 = −40 tokens: nothing left, and a request of 1 waits for 41 tokens at 0.1 per ms.
    expect(await left(store, o)).toBe(0);
    const r = await store.check([{ ...o, cost: 1 }]);
    expect(r.allowed).toBe(false);
    expect(r.outcomes[0]?.retryMs).toBe(410);
    time.advance(410);
    expect((await store.check([{ ...o, cost: 1 }])).allowed).toBe(true);
  });

  it('GCRA: a refund moves the TAT back, never before now; a charge moves it on', async () => {
    const { time, store } = make();
    const o = op(ALG.GCRA, 60);
    expect((await store.check([o])).allowed).toBe(true);
    expect(await left(store, o)).toBe(40);
    await store.adjust([{ op: o, delta: -30, sinceMs: 0 }]);
    expect(await left(store, o)).toBe(70);
    await store.adjust([{ op: o, delta: -1000, sinceMs: 0 }]);
    expect(await left(store, o)).toBe(100);
    expect((await store.check([{ ...o, cost: 100 }])).allowed).toBe(true);
    await store.adjust([{ op: o, delta: 50, sinceMs: 0 }]);
    // TAT = now + 1500 ms; one more unit (T = 10 ms) fits once TAT + 10 − τ (1000) ≤ now.
    const r = await store.check([{ ...o, cost: 1 }]);
    expect(r.allowed).toBe(false);
    expect(r.outcomes[0]?.retryMs).toBe(510);
    time.advance(510);
    expect((await store.check([{ ...o, cost: 1 }])).allowed).toBe(true);
  });

  it('fixed window: a refund comes off the window of the charge, never below 0, and is dropped once that window is over', async () => {
    const { time, store } = make();
    const o = op(ALG.FixedWindow, 60);
    expect((await store.check([o])).allowed).toBe(true);
    time.advance(300);
    await store.adjust([{ op: o, delta: -30, sinceMs: 300 }]);
    expect(await left(store, o)).toBe(70);
    await store.adjust([{ op: o, delta: -1000, sinceMs: 300 }]);
    expect(await left(store, o)).toBe(100);
    expect((await store.check([{ ...o, cost: 50 }])).allowed).toBe(true);
    time.advance(800); // the next window
    expect((await store.check([{ ...o, cost: 80 }])).allowed).toBe(true);
    // A refund of the previous window's charge gives this window nothing.
    await store.adjust([{ op: o, delta: -50, sinceMs: 900 }]);
    expect(await left(store, o)).toBe(20);
    // A charge lands in the current window, past the limit if need be.
    await store.adjust([{ op: o, delta: 30, sinceMs: 900 }]);
    expect(await left(store, o)).toBe(0);
    expect((await store.check([{ ...o, cost: 1 }])).allowed).toBe(false);
  });

  it('sliding window: a refund comes off the window the charge was counted in', async () => {
    const { time, store } = make();
    const o = op(ALG.SlidingWindow, 60);
    expect((await store.check([o])).allowed).toBe(true);
    time.advance(1500); // half way through the next window: 60 · 0.5 = 30 of the previous count
    expect(await left(store, o)).toBe(70);
    await store.adjust([{ op: o, delta: -40, sinceMs: 1500 }]);
    expect(await left(store, o)).toBe(90); // previous window 20 · 0.5
    await store.adjust([{ op: o, delta: 20, sinceMs: 1500 }]);
    expect(await left(store, o)).toBe(70);
    await store.adjust([{ op: o, delta: -1000, sinceMs: 10 }]);
    expect(await left(store, o)).toBe(90); // the current window is back to 0, the previous stays 20
  });

  it('sliding log: a charge is one more entry; a refund is not applied (the entry of the reservation stays)', async () => {
    const { store } = make();
    const o = op(ALG.SlidingLog, 60);
    expect((await store.check([o])).allowed).toBe(true);
    await store.adjust([{ op: o, delta: -30, sinceMs: 0 }]);
    expect(await left(store, o)).toBe(40);
    await store.adjust([{ op: o, delta: 20, sinceMs: 0 }]);
    expect(await left(store, o)).toBe(20);
  });

  it('a refund to a counter that has no state (expired or evicted: full) writes nothing', async () => {
    const { store } = make();
    const o = op(ALG.TokenBucket, 1);
    await store.adjust([{ op: o, delta: -5, sinceMs: 0 }]);
    expect(await left(store, o)).toBe(100);
  });

  it('adjusts several counters in one call', async () => {
    const { store } = make();
    const a = op(ALG.TokenBucket, 50);
    const b = op(ALG.FixedWindow, 50);
    expect((await store.check([a, b])).allowed).toBe(true);
    await store.adjust([
      { op: a, delta: -20, sinceMs: 0 },
      { op: b, delta: 10, sinceMs: 0 },
    ]);
    expect(await left(store, a)).toBe(70);
    expect(await left(store, b)).toBe(40);
  });
});

describe('Redis store: an adjustment is one more check in the batch', () => {
  it('checks and an adjustment of every level started in one turn share one round trip', async () => {
    const time = new ManualTime();
    const store = createRedisStore({ redis, prefix: PREFIX, testNow: () => time.now() }) as RedisLimitStore;
    const levels = [op(ALG.TokenBucket, 10), op(ALG.GCRA, 10), op(ALG.FixedWindow, 10), op(ALG.SlidingWindow, 10)];
    await store.check(levels); // loads the script
    const before = store.stats.roundTrips;
    const [, adjusted, probe] = await Promise.all([
      store.check([op(ALG.TokenBucket, 1)]),
      store.adjust(levels.map((o) => ({ op: o, delta: 5, sinceMs: 0 }))),
      store.check(levels.map((o) => ({ ...o, cost: 1_000_000 }))),
    ]);
    expect(adjusted).toBeUndefined();
    expect(store.stats.roundTrips - before).toBe(1);
    // Decided in order: the probe after the adjustment sees 100 − 10 − 5 left at every level.
    expect(probe.outcomes.map((x) => x.remaining)).toEqual([85, 85, 85, 85]);
  });
});

describe('memory and Redis settle alike', () => {
  /** A small deterministic generator (xorshift), so a failure replays. */
  function rng(seed: number): () => number {
    let x = seed >>> 0 || 1;
    return () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
  }

  it.each([
    ['TokenBucket', ALG.TokenBucket],
    ['GCRA', ALG.GCRA],
    ['FixedWindow', ALG.FixedWindow],
    ['SlidingWindow', ALG.SlidingWindow],
    ['SlidingLog', ALG.SlidingLog],
  ] as const)('%s: random checks and corrections decide the same', async (_name, alg) => {
    const time = new ManualTime();
    const memory = createMemoryStore({ clock: time, maxKeys: 1000 });
    const onRedis = createRedisStore({ redis, prefix: PREFIX, testNow: () => time.now() });
    const key = `rand${seq++}`;
    const random = rng(alg * 7919);
    const base = { key, alg, limit: 100, periodMs: 1000, burst: 120, shadow: false, maxWaitMs: -1 } as const;
    for (let i = 0; i < 300; i++) {
      time.advance(Math.floor(random() * 120));
      if (random() < 0.5) {
        const o = { ...base, cost: 1 + Math.floor(random() * 40) };
        const [m, r] = [memory.checkSync([o]), await onRedis.check([o])];
        expect(r, `step ${i}`).toEqual(m);
      } else {
        const a = { op: { ...base, cost: 1 }, delta: Math.floor(random() * 81) - 40, sinceMs: Math.floor(random() * 1500) };
        memory.adjustSync([a]);
        await onRedis.adjust([a]);
      }
    }
  });
});
