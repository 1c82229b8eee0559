/**
 * LLM tokens through the limiter: reserved from the estimate at admission (a default output for a
 * request without a ceiling), settled from the answer's usage on an injected clock — memory, the
 * Local failure mode, and the real Redis at 127.0.0.1:6379 (unique key prefix).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RateLimitIR, RateLimitLevelIR } from '@jarvis/api';
import { ManualTime } from '../../clock.js';
import { compileRouteLimiter } from './limiter.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisStore } from './redis-store.js';
import type { LimitDecision, LimitRequest, LimitStore, LimitStores, Settlement } from './types.js';

const source = { kind: 'RateLimitPolicy', namespace: 'jarvis', name: 'tokens', generation: 1 } as const;
const HOUR = 3_600_000;

function level(name: string, tokens: 'Input' | 'Output' | 'Total', extra: Partial<RateLimitLevelIR> = {}): RateLimitLevelIR {
  return {
    name,
    counter: `jarvis/tokens/${name}`,
    key: [{ type: 'Tenant' }],
    onMissingKey: 'Anonymous',
    algorithm: 'FixedWindow',
    limit: 10_000,
    periodMs: HOUR,
    cost: { type: 'LlmTokens', tokens, defaultOutputTokens: 512 },
    action: { type: 'Reject' },
    when: { methods: [], headers: [], queryParams: [] },
    tenantOverrides: [],
    plans: [],
    mode: 'Enforce',
    source,
    ...extra,
  };
}

function ir(levels: RateLimitLevelIR[], extra: Partial<RateLimitIR> = {}): RateLimitIR {
  return { levels, store: 'Memory', failureMode: { mode: 'Open', timeoutMs: 200, expectedReplicas: 1 }, policies: [source], ...extra };
}

function request(input: number, output: number, tenant = 'acme'): LimitRequest {
  return {
    routeId: 'default/chat/0',
    serviceIds: ['default/llm:80'],
    clientIp: '10.0.0.1',
    method: 'POST',
    path: '/v1/chat/completions',
    hot: [],
    tenant,
    header: () => undefined,
    claim: () => undefined,
    queryParam: () => undefined,
    llmTokens: { input, output },
  };
}

function setup(r: RateLimitIR, stores?: (time: ManualTime) => LimitStores) {
  const time = new ManualTime();
  const s = stores?.(time) ?? { memory: createMemoryStore({ clock: time, maxKeys: 1000 }) };
  const limiter = compileRouteLimiter(r, { stores: s, clock: time, hashTag: randomUUID() });
  /** Remaining per level, read by a request too large to admit (it charges nothing). */
  const remaining = async (tenant = 'acme'): Promise<number[]> => {
    const d = await limiter.check(request(10_000_000, 10_000_000, tenant));
    return d.levels.map((l) => l.remaining);
  };
  return { time, limiter, remaining };
}

const reservationOf = (d: LimitDecision) => {
  if (!d.reservation) throw new Error('no reservation');
  return d.reservation;
};

describe('LLM tokens: reserve, then settle from usage', () => {
  it('reserves the estimate per level and settles each level to the usage it counts', async () => {
    const { limiter, remaining } = setup(ir([level('total', 'Total'), level('in', 'Input'), level('out', 'Output')]));
    const d = await limiter.check(request(100, 200));
    expect(d.allowed).toBe(true);
    expect(d.levels.map((l) => l.remaining)).toEqual([9700, 9900, 9800]);
    const s = limiter.settle(reservationOf(d), { input: 90, output: 50, total: 140 });
    expect(s).toEqual({ outcome: 'reconciled', charged: 0, refunded: 160 + 10 + 150 });
    expect(await remaining()).toEqual([10_000 - 140, 10_000 - 90, 10_000 - 50]);
  });

  it('a request without an output ceiling reserves defaultOutputTokens, and is charged what the answer reports', async () => {
    const { limiter, remaining } = setup(ir([level('out', 'Output')]));
    const d = await limiter.check(request(40, 0));
    expect(d.levels[0]?.remaining).toBe(10_000 - 512);
    limiter.settle(reservationOf(d), { input: 43, output: 31, total: 74 });
    expect(await remaining()).toEqual([10_000 - 31]);
  });

  it('usage above the reservation is charged on top, past the limit if need be; the next request waits', async () => {
    const { limiter, remaining } = setup(ir([level('total', 'Total', { limit: 1000 })]));
    const d = await limiter.check(request(100, 800));
    expect(limiter.settle(reservationOf(d), { input: 150, output: 1000, total: 1150 })).toEqual({
      outcome: 'reconciled',
      charged: 250,
      refunded: 0,
    });
    expect(await remaining()).toEqual([0]);
    expect((await limiter.check(request(1, 1))).allowed).toBe(false);
  });

  it('an answer without usage keeps the reservation; no upstream answer refunds the output part', async () => {
    const { limiter, remaining } = setup(ir([level('total', 'Total'), level('in', 'Input'), level('out', 'Output')]));
    const d1 = await limiter.check(request(100, 200));
    expect(limiter.settle(reservationOf(d1), 'missing')).toEqual({ outcome: 'missing', charged: 0, refunded: 0 });
    expect(await remaining()).toEqual([9700, 9900, 9800]);
    const d2 = await limiter.check(request(100, 200));
    expect(limiter.settle(reservationOf(d2), 'unanswered')).toEqual({ outcome: 'unanswered', charged: 0, refunded: 400 });
    expect(await remaining()).toEqual([9600, 9800, 9800]);
  });

  it('no reservation for a rejected request, nor for levels that do not count tokens', async () => {
    const fixed: RateLimitLevelIR = { ...level('fixed', 'Total'), cost: { type: 'Fixed', amount: 1 } };
    const { limiter } = setup(ir([fixed, level('total', 'Total', { limit: 100 })]));
    const ok = await limiter.check(request(10, 10));
    expect(reservationOf(ok).items.map((i) => i.op.cost)).toEqual([20]);
    const refused = await limiter.check(request(10, 90));
    expect(refused.allowed).toBe(false);
    expect(refused.reservation).toBeUndefined();
  });

  it('a shadow level is settled only when it was charged', async () => {
    const shadow = level('shadow', 'Total', { limit: 100, mode: 'Shadow' });
    const { limiter } = setup(ir([level('total', 'Total'), shadow]));
    const small = await limiter.check(request(10, 10));
    expect(reservationOf(small).items).toHaveLength(2);
    const big = await limiter.check(request(100, 100));
    expect(big.allowed).toBe(true);
    expect(reservationOf(big).items.map((i) => i.op.cost)).toEqual([200]);
  });

  it.each(['TokenBucket', 'GCRA', 'FixedWindow', 'SlidingWindow'] as const)(
    '%s: settled after some time on the injected clock, the counter holds exactly the usage',
    async (algorithm) => {
      const bursty = algorithm === 'TokenBucket' || algorithm === 'GCRA';
      const { limiter, remaining, time } = setup(ir([level('total', 'Total', { algorithm, ...(bursty ? { burst: 10_000 } : {}) })]));
      const d = await limiter.check(request(100, 200));
      expect(d.levels[0]?.remaining).toBe(9700);
      time.advance(100); // refills 0.28 tokens at 10,000 an hour: not a whole one
      limiter.settle(reservationOf(d), { input: 95, output: 5, total: 100 });
      expect(await remaining()).toEqual([9900]);
      // A second request's usage adds up, to the token.
      const d2 = await limiter.check(request(100, 200));
      limiter.settle(reservationOf(d2), { input: 100, output: 350, total: 450 });
      expect(await remaining()).toEqual([9450]);
    },
  );

  it('the Local failure mode settles its own in-memory counters', async () => {
    const { limiter, remaining } = setup(
      ir([level('total', 'Total')], { store: 'Redis', failureMode: { mode: 'Local', timeoutMs: 100, expectedReplicas: 2 } }),
    );
    const d = await limiter.check(request(100, 200));
    expect(d.degraded).toBe('local');
    expect(reservationOf(d).store).toBe('local');
    limiter.settle(reservationOf(d), { input: 50, output: 50, total: 100 });
    expect(await remaining()).toEqual([5000 - 100]);
  });

  it('the Open failure mode charges nothing, so there is nothing to settle', async () => {
    const { limiter } = setup(
      ir([level('total', 'Total')], { store: 'Redis', failureMode: { mode: 'Open', timeoutMs: 100, expectedReplicas: 1 } }),
    );
    const d = await limiter.check(request(100, 200));
    expect(d.degraded).toBe('open');
    expect(d.reservation).toBeUndefined();
  });
});

describe('LLM tokens: what the metrics hear', () => {
  it('reports each settlement once it is applied, and a correction Redis did not take as failed', async () => {
    const time = new ManualTime();
    const heard: Settlement[] = [];
    const memory = createMemoryStore({ clock: time, maxKeys: 100 });
    // A Redis that admits every check and refuses every correction.
    const flaky: LimitStore = {
      kind: 'redis',
      ready: () => true,
      check: (ops) => memory.check(ops),
      adjust: () => Promise.reject(new Error('connection lost')),
    };
    const limiter = compileRouteLimiter(
      ir([level('total', 'Total')], { store: 'Redis', failureMode: { mode: 'Closed', timeoutMs: 100, expectedReplicas: 1 } }),
      { stores: { memory, redis: flaky }, clock: time, onSettled: (s) => heard.push(s) },
    );
    const d = await limiter.check(request(100, 200));
    limiter.settle(reservationOf(d), 'missing');
    limiter.settle(reservationOf(d), { input: 100, output: 20, total: 120 });
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual([
      { outcome: 'missing', charged: 0, refunded: 0 },
      { outcome: 'failed', charged: 0, refunded: 0 },
    ]);
  });
});

describe('LLM tokens on Redis', () => {
  const PREFIX = `test:rl:tokens:${randomUUID()}:`;
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: false, lazyConnect: true });
    await redis.connect();
  });
  afterAll(async () => {
    const keys = await redis.keys(`${PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('settles every level of a request in one round trip, batched with the checks of the same turn', async () => {
    let store: ReturnType<typeof createRedisStore> | undefined;
    const { limiter, remaining, time } = setup(
      ir([level('total', 'Total'), level('in', 'Input'), level('out', 'Output', { algorithm: 'TokenBucket', burst: 10_000 })], {
        store: 'Redis',
        failureMode: { mode: 'Closed', timeoutMs: 1000, expectedReplicas: 1 },
      }),
      (t) => {
        store = createRedisStore({ redis, prefix: PREFIX, testNow: () => t.now() });
        return { memory: createMemoryStore({ clock: t, maxKeys: 100 }), redis: store };
      },
    );
    const d = await limiter.check(request(100, 200));
    expect(d.levels.map((l) => l.remaining)).toEqual([9700, 9900, 9800]);
    expect(reservationOf(d).store).toBe('redis');
    time.advance(50);
    const before = store?.stats.roundTrips ?? NaN;
    limiter.settle(reservationOf(d), { input: 120, output: 30, total: 150 });
    const other = await limiter.check(request(1, 1, 'other'));
    expect(other.allowed).toBe(true);
    expect((store?.stats.roundTrips ?? NaN) - before).toBe(1);
    expect(await remaining()).toEqual([10_000 - 150, 10_000 - 120, 10_000 - 30]);
  });
});
