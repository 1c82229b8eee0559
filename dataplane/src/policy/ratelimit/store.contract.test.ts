/**
 * The contract every counter store meets, run against the memory store and the Redis store (one
 * Lua script) alike, both driven by one manual clock (the Redis store passes it to the script in
 * test mode instead of TIME). Then a property test: random sequences of requests, costs and
 * times, each algorithm (and random multi-level combinations) against an exact request-log
 * oracle in integer arithmetic.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisStore } from './redis-store.js';
import { ALG, type AlgCode, type LimitOp, type LimitStore, type StoreResult } from './types.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `test:rl:contract:${randomUUID()}:`;
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
      return { time, store: createMemoryStore({ clock: time, maxKeys: 100_000 }) };
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
function op(alg: AlgCode, o: Partial<Omit<LimitOp, 'alg'>> = {}): LimitOp {
  return {
    key: o.key ?? `k${seq++}`,
    alg,
    limit: 10,
    periodMs: 1000,
    burst: o.burst ?? o.limit ?? 10,
    cost: 1,
    shadow: false,
    maxWaitMs: -1,
    ...o,
  };
}

function outcome(r: StoreResult, i = 0) {
  const o = r.outcomes[i];
  if (!o) throw new Error(`no outcome ${i}`);
  return o;
}

describe.each(stores)('$name store contract', ({ make }) => {
  it('token bucket: burst at once, then the refill rate; retry and reset in ms', async () => {
    const { time, store } = make();
    const tb = op(ALG.TokenBucket, { limit: 2, periodMs: 1000, burst: 3 });
    for (let i = 0; i < 3; i++) expect((await store.check([tb])).allowed).toBe(true);
    const r = await store.check([tb]);
    expect(r.allowed).toBe(false);
    expect(outcome(r)).toEqual({ allowed: false, remaining: 0, resetMs: 1500, retryMs: 500 });
    time.advance(499);
    expect((await store.check([tb])).allowed).toBe(false);
    time.advance(1);
    const ok = await store.check([tb]);
    expect(ok.allowed).toBe(true);
    expect(outcome(ok)).toMatchObject({ remaining: 0, resetMs: 1500 });
    time.advance(10_000);
    expect(outcome(await store.check([tb]))).toMatchObject({ allowed: true, remaining: 2, resetMs: 500 });
  });

  it('token bucket: weighted cost; a cost above the capacity never passes', async () => {
    const { store } = make();
    const key = `tbw${seq++}`;
    expect(outcome(await store.check([op(ALG.TokenBucket, { key, limit: 10, burst: 10, cost: 7 })]))).toMatchObject({
      allowed: true,
      remaining: 3,
    });
    expect(outcome(await store.check([op(ALG.TokenBucket, { key, limit: 10, burst: 10, cost: 4 })]))).toMatchObject({
      allowed: false,
      remaining: 3,
      retryMs: 100,
    });
    expect(outcome(await store.check([op(ALG.TokenBucket, { key, limit: 10, burst: 10, cost: 11 })]))).toMatchObject({
      allowed: false,
      retryMs: -1,
    });
  });

  it('GCRA: strict spacing with burst 1', async () => {
    const { time, store } = make();
    const g = op(ALG.GCRA, { limit: 10, periodMs: 1000, burst: 1 });
    expect(outcome(await store.check([g]))).toEqual({ allowed: true, remaining: 0, resetMs: 100, retryMs: 0 });
    time.advance(50);
    expect(outcome(await store.check([g]))).toEqual({ allowed: false, remaining: 0, resetMs: 50, retryMs: 50 });
    time.advance(50);
    expect((await store.check([g])).allowed).toBe(true);
    time.advance(99);
    expect((await store.check([g])).allowed).toBe(false);
  });

  it('GCRA: burst back to back, then one per emission interval', async () => {
    const { time, store } = make();
    const g = op(ALG.GCRA, { limit: 4, periodMs: 1000, burst: 3 });
    const rem: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await store.check([g]);
      expect(r.allowed).toBe(true);
      rem.push(outcome(r).remaining);
    }
    expect(rem).toEqual([2, 1, 0]);
    expect(outcome(await store.check([g]))).toMatchObject({ allowed: false, retryMs: 250 });
    time.advance(250);
    expect((await store.check([g])).allowed).toBe(true);
    expect((await store.check([g])).allowed).toBe(false);
  });

  it('GCRA with Wait: admits with a delay up to maxWaitMs, rejects beyond', async () => {
    const { store } = make();
    const g = op(ALG.GCRA, { limit: 10, periodMs: 1000, burst: 1, maxWaitMs: 250 });
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await store.check([g]);
      expect(r.allowed).toBe(true);
      waits.push(r.waitMs);
    }
    expect(waits).toEqual([0, 100, 200]);
    const r = await store.check([g]);
    expect(r.allowed).toBe(false);
    expect(r.waitMs).toBe(0);
    expect(outcome(r).retryMs).toBe(300);
  });

  it('fixed window: counts per aligned window', async () => {
    const { time, store } = make();
    const f = op(ALG.FixedWindow, { limit: 3, periodMs: 1000 });
    time.advance(1000 - (time.now() % 1000) + 900); // 900 ms into a window
    for (let i = 0; i < 3; i++) expect((await store.check([f])).allowed).toBe(true);
    expect(outcome(await store.check([f]))).toEqual({ allowed: false, remaining: 0, resetMs: 100, retryMs: 100 });
    time.advance(100);
    expect(outcome(await store.check([f]))).toEqual({ allowed: true, remaining: 2, resetMs: 1000, retryMs: 0 });
  });

  it('sliding window counter: the previous window weighs by the part still in the window', async () => {
    const { time, store } = make();
    const s = op(ALG.SlidingWindow, { limit: 10, periodMs: 1000 });
    time.advance(1000 - (time.now() % 1000) + 500);
    for (let i = 0; i < 10; i++) expect((await store.check([s])).allowed).toBe(true);
    expect(outcome(await store.check([s]))).toMatchObject({ allowed: false, remaining: 0, retryMs: 500 + 100 });
    time.advance(750); // 250 ms into the next window: estimate 10 · 0.75 = 7.5
    const r = await store.check([s]);
    expect(outcome(r)).toMatchObject({ allowed: true, remaining: 1 });
    expect((await store.check([s])).allowed).toBe(true); // 7.5 + 2 = 9.5
    const no = await store.check([s]); // 7.5 + 3 > 10: passes once prev weighs ≤ 7, i.e. 300 ms in
    expect(outcome(no)).toMatchObject({ allowed: false, retryMs: 50 });
  });

  it('sliding log: exact, entries leave one period after they came', async () => {
    const { time, store } = make();
    const key = `sl${seq++}`;
    const l = (cost: number) => op(ALG.SlidingLog, { key, limit: 5, periodMs: 1000, cost });
    expect((await store.check([l(2)])).allowed).toBe(true);
    time.advance(300);
    expect((await store.check([l(3)])).allowed).toBe(true);
    time.advance(300);
    expect(outcome(await store.check([l(1)]))).toEqual({ allowed: false, remaining: 0, resetMs: 700, retryMs: 400 });
    expect(outcome(await store.check([l(4)]))).toMatchObject({ allowed: false, retryMs: 700 });
    time.advance(400);
    expect(outcome(await store.check([l(2)]))).toEqual({ allowed: true, remaining: 0, resetMs: 1000, retryMs: 0 });
    expect(outcome(await store.check([l(6)]))).toMatchObject({ allowed: false, retryMs: -1 });
  });

  it('multi-level: a request rejected at one level is charged nowhere', async () => {
    const { store } = make();
    // An hour's period: a slow machine (real Redis time moves between checks) refills nothing.
    const hour = 3_600_000;
    const user = op(ALG.TokenBucket, { limit: 5, periodMs: hour });
    const tenant = op(ALG.FixedWindow, { limit: 2, periodMs: hour });
    const global = op(ALG.GCRA, { limit: 100, periodMs: hour });
    const log = op(ALG.SlidingLog, { limit: 100, periodMs: hour });
    const win = op(ALG.SlidingWindow, { limit: 100, periodMs: hour });
    const all = [user, tenant, global, log, win];
    expect((await store.check(all)).allowed).toBe(true);
    expect((await store.check(all)).allowed).toBe(true);
    const r = await store.check(all);
    expect(r.allowed).toBe(false);
    expect(r.outcomes.map((o) => o.allowed)).toEqual([true, false, true, true, true]);
    // The other levels report their state as it is: two requests taken, not three.
    expect(r.outcomes.map((o) => o.remaining)).toEqual([3, 0, 98, 98, 98]);
    for (let i = 0; i < 5; i++) await store.check(all);
    const alone = await store.check([user, global, log, win]);
    expect(alone.outcomes.map((o) => o.remaining)).toEqual([2, 97, 97, 97]);
  });

  it('shadow ops count but never reject; a shadow op over its limit is not charged', async () => {
    const { store } = make();
    const enforced = op(ALG.FixedWindow, { limit: 100 });
    const shadow = op(ALG.FixedWindow, { limit: 1, shadow: true });
    const first = await store.check([enforced, shadow]);
    expect(first.allowed).toBe(true);
    expect(first.outcomes.map((o) => o.allowed)).toEqual([true, true]);
    const second = await store.check([enforced, shadow]);
    expect(second.allowed).toBe(true);
    expect(second.outcomes.map((o) => [o.allowed, o.remaining])).toEqual([
      [true, 98],
      [false, 0],
    ]);
  });

  it('a shadow op is not charged when an enforced op rejects', async () => {
    const { store } = make();
    const enforced = op(ALG.FixedWindow, { limit: 1 });
    const shadow = op(ALG.FixedWindow, { limit: 10, shadow: true });
    await store.check([enforced, shadow]);
    await store.check([enforced, shadow]);
    expect(outcome(await store.check([shadow])).remaining).toBe(8);
  });
});

// ---------------------------------------------------------------------------------------------
// Property test: random sequences against an exact request-log oracle.

/** mulberry32: a small seeded PRNG, so that a failing sequence can be replayed by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Spec {
  alg: AlgCode;
  limit: number;
  periodMs: number;
  burst: number;
  maxWaitMs: number;
  shadow: boolean;
}

interface Entry {
  /** Arrival time, and (GCRA with Wait) the time the request was scheduled to. */
  t: number;
  s: number;
  c: number;
}

/**
 * The oracle keeps only the log of admitted requests and decides from first principles:
 * - token bucket (capacity B, L per P): admissible iff c ≤ B and every suffix of the admitted log
 *   plus this request fits the bucket over its span: P·(C_i + c) ≤ B·P + L·(t − t_i), where C_i
 *   sums the costs admitted from request i on. (The bucket's level is the minimum of these.)
 * - GCRA: the same constraints on the scheduled times s_i; a request is scheduled at the earliest
 *   s ≥ t that satisfies them all, and admitted iff s − t ≤ maxWait (0 without Wait).
 * - fixed window / sliding log: the admitted costs in the aligned window / in (t − P, t].
 * - sliding window counter: the Cloudflare estimate recomputed from the log.
 */
class Oracle {
  readonly log: Entry[] = [];
  constructor(readonly spec: Spec) {}

  decide(t: number, c: number): { allowed: boolean; waitMs: number; remaining?: number } {
    const { alg, limit: L, periodMs: P, burst: B } = this.spec;
    switch (alg) {
      case ALG.TokenBucket: {
        let tokens = B * P; // scaled by P
        let C = 0;
        for (let i = this.log.length - 1; i >= 0; i--) {
          const e = this.log[i] as Entry;
          C += e.c;
          tokens = Math.min(tokens, B * P + L * (t - e.t) - P * C);
        }
        const allowed = c <= B && P * c <= tokens;
        return { allowed, waitMs: 0, remaining: Math.floor((allowed ? tokens - P * c : tokens) / P) };
      }
      case ALG.GCRA: {
        const T = P / L;
        let s = t;
        let C = 0;
        for (let i = this.log.length - 1; i >= 0; i--) {
          const e = this.log[i] as Entry;
          C += e.c;
          s = Math.max(s, e.s + T * (C + c) - T * B);
        }
        const wait = s - t;
        const allowed = c <= B && (wait === 0 || (this.spec.maxWaitMs >= 0 && wait <= this.spec.maxWaitMs));
        return { allowed, waitMs: allowed ? wait : 0 };
      }
      case ALG.FixedWindow: {
        const w = Math.floor(t / P);
        const sum = this.log.filter((e) => Math.floor(e.t / P) === w).reduce((n, e) => n + e.c, 0);
        const allowed = sum + c <= L;
        return { allowed, waitMs: 0, remaining: L - sum - (allowed ? c : 0) };
      }
      case ALG.SlidingLog: {
        const sum = this.log.filter((e) => e.t > t - P).reduce((n, e) => n + e.c, 0);
        const allowed = sum + c <= L;
        return { allowed, waitMs: 0, remaining: L - sum - (allowed ? c : 0) };
      }
      case ALG.SlidingWindow: {
        const { prev, curr, elapsed } = this.windows(t);
        const allowed = prev * (P - elapsed) + (curr + c) * P <= L * P;
        const after = curr + (allowed ? c : 0);
        return { allowed, waitMs: 0, remaining: Math.max(0, Math.floor((L * P - prev * (P - elapsed) - after * P) / P)) };
      }
    }
  }

  windows(t: number): { prev: number; curr: number; elapsed: number } {
    const P = this.spec.periodMs;
    const w = Math.floor(t / P);
    let prev = 0;
    let curr = 0;
    for (const e of this.log) {
      const ew = Math.floor(e.t / P);
      if (ew === w) curr += e.c;
      else if (ew === w - 1) prev += e.c;
    }
    return { prev, curr, elapsed: t - w * P };
  }

  admit(t: number, c: number, waitMs: number): void {
    this.log.push({ t, s: t + waitMs, c });
    // The sliding window's documented bound: the true count in (t − P, t] exceeds the limit by
    // at most prev · elapsed / P (prev: the previous window's admitted units), so never 2·L.
    if (this.spec.alg === ALG.SlidingWindow) {
      const { prev, elapsed } = this.windows(t);
      const P = this.spec.periodMs;
      const inWindow = this.log.filter((e) => e.t > t - P).reduce((n, e) => n + e.c, 0);
      if (P * inWindow > this.spec.limit * P + prev * elapsed) throw new Error(`sliding window bound broken at ${t}: ${inWindow}`);
    }
  }
}

// Parameters: GCRA needs an exact emission interval (P divisible by L) to be exact in doubles.
const RATES: [number, number, number][] = [
  // limit, periodMs, burst
  [1, 1000, 1],
  [2, 1000, 3],
  [4, 1000, 4],
  [5, 1000, 2],
  [10, 1000, 10],
  [10, 2000, 4],
  [3, 3000, 5],
  [16, 1000, 8],
  [25, 5000, 25],
];
const ALGS: AlgCode[] = [ALG.TokenBucket, ALG.GCRA, ALG.FixedWindow, ALG.SlidingWindow, ALG.SlidingLog];

function randomSpec(rand: () => number, alg: AlgCode, shadow = false): Spec {
  const [limit, periodMs, burst] = RATES[Math.floor(rand() * RATES.length)] as [number, number, number];
  // Wait bounds on and off the emission grid, so that waits equal to the bound occur.
  const T = periodMs / limit;
  const wait = rand() < 0.5 ? T * Math.floor(rand() * 4) : Math.floor(rand() * 2 * T);
  const maxWaitMs = alg === ALG.GCRA && !shadow && rand() < 0.6 ? wait : -1;
  return { alg, limit, periodMs, burst: alg === ALG.TokenBucket || alg === ALG.GCRA ? burst : limit, maxWaitMs, shadow };
}

function randomStep(rand: () => number, spec: Spec): number {
  const x = rand();
  const T = spec.periodMs / spec.limit;
  if (x < 0.3) return 0;
  if (x < 0.8) return Math.floor(rand() * T);
  if (x < 0.95) return Math.floor(rand() * spec.periodMs);
  return Math.floor(rand() * 3 * spec.periodMs);
}

describe.each(stores)('$name store against the request-log oracle', ({ make }) => {
  const SEQUENCES = 20;
  const STEPS = 150;

  it.each(ALGS.map((alg) => ({ alg, name: Object.keys(ALG).find((k) => ALG[k as keyof typeof ALG] === alg) })))(
    '$name: random requests, costs and times',
    async ({ alg }) => {
      for (let seed = 1; seed <= SEQUENCES; seed++) {
        const rand = prng(seed * 7919 + alg);
        const { time, store } = make();
        const spec = randomSpec(rand, alg);
        const oracle = new Oracle(spec);
        const key = `prop:${alg}:${seed}:${seq++}`;
        const maxCost = rand() < 0.5 ? 1 : 3;
        for (let step = 0; step < STEPS; step++) {
          time.advance(randomStep(rand, spec));
          const cost = 1 + Math.floor(rand() * maxCost);
          const want = oracle.decide(time.now(), cost);
          const got = await store.check([{ key, ...spec, cost }]);
          const at = `seed ${seed} step ${step} ${JSON.stringify(spec)} cost ${cost}`;
          expect({ at, allowed: got.allowed, waitMs: got.waitMs }).toEqual({ at, allowed: want.allowed, waitMs: want.waitMs });
          if (want.remaining !== undefined) expect({ at, remaining: outcome(got).remaining }).toEqual({ at, remaining: want.remaining });
          if (want.allowed) oracle.admit(time.now(), cost, want.waitMs);
        }
      }
    },
  );

  it('random multi-level combinations with shadow levels: all or nothing', async () => {
    for (let seed = 1; seed <= SEQUENCES; seed++) {
      const rand = prng(seed * 104729);
      const { time, store } = make();
      const n = 2 + Math.floor(rand() * 3);
      const specs = Array.from({ length: n }, (_, i) =>
        randomSpec(rand, ALGS[Math.floor(rand() * ALGS.length)] as AlgCode, i > 0 && rand() < 0.2),
      );
      const oracles = specs.map((s) => new Oracle(s));
      const keys = specs.map((_, i) => `multi:${seed}:${i}:${seq++}`);
      for (let step = 0; step < STEPS; step++) {
        time.advance(randomStep(rand, specs[0] as Spec));
        const cost = 1 + Math.floor(rand() * 2);
        const wants = oracles.map((o) => o.decide(time.now(), cost));
        const allowed = wants.every((w, i) => w.allowed || specs[i]?.shadow);
        const waitMs = allowed ? Math.max(0, ...wants.filter((_, i) => !specs[i]?.shadow).map((w) => w.waitMs)) : 0;
        const got = await store.check(specs.map((s, i) => ({ key: keys[i] as string, ...s, cost })));
        const at = `seed ${seed} step ${step}`;
        expect({ at, allowed: got.allowed, waitMs: got.waitMs, each: got.outcomes.map((o) => o.allowed) }).toEqual({
          at,
          allowed,
          waitMs,
          each: wants.map((w) => w.allowed),
        });
        if (allowed) wants.forEach((w, i) => w.allowed && oracles[i]?.admit(time.now(), cost, w.waitMs));
      }
    }
  });
});

describe('sliding window counter accuracy under steady overload', () => {
  it('admits the limit per window within ±1 % once warmed up', async () => {
    const time = new ManualTime();
    const store = createMemoryStore({ clock: time, maxKeys: 1000 });
    const s = op(ALG.SlidingWindow, { limit: 100, periodMs: 1000 });
    time.advance(1000 - (time.now() % 1000));
    const perWindow = new Map<number, number>();
    const admitted: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      // 3 requests every 7 ms: about 4.3 × the limit.
      if (i % 3 === 0) time.advance(7);
      if ((await store.check([s])).allowed) {
        const w = Math.floor(time.now() / 1000);
        perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
        admitted.push(time.now());
      }
    }
    const counts = [...perWindow.values()].slice(3, -1);
    expect(counts.length).toBeGreaterThan(30);
    for (const n of counts) expect(Math.abs(n - 100)).toBeLessThanOrEqual(1);
    // And over any sliding window of one period: at most 1 % above the limit.
    let lo = 0;
    for (let hi = 0; hi < admitted.length; hi++) {
      while ((admitted[lo] as number) <= (admitted[hi] as number) - 1000) lo++;
      if ((admitted[0] as number) + 3000 < (admitted[hi] as number)) expect(hi - lo + 1).toBeLessThanOrEqual(101);
    }
  });
});
