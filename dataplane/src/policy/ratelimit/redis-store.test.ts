import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMIT_SCRIPT_SHA } from './lua.js';
import { createRedisStore, LimitStoreTimeoutError, redisRoundTrips } from './redis-store.js';
import { ALG, type AlgCode, type LimitOp } from './types.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `test:rl:store:${randomUUID()}:`;
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

let seq = 0;
function op(alg: AlgCode, o: Partial<LimitOp> = {}): LimitOp {
  return { key: `{t}:k${seq++}`, alg, limit: 10, periodMs: 60_000, burst: 10, cost: 1, shadow: false, maxWaitMs: -1, ...o };
}

const ALL: AlgCode[] = [ALG.TokenBucket, ALG.GCRA, ALG.SlidingWindow, ALG.SlidingLog, ALG.FixedWindow];

describe('Redis store', () => {
  it('one round trip per check, whatever the number of levels', async () => {
    const store = createRedisStore({ redis, prefix: PREFIX });
    await store.check([op(ALG.GCRA)]); // the script is cached from here on
    const before = store.stats.roundTrips;
    const globalBefore = redisRoundTrips();
    const ops = [...ALL, ...ALL].map((a) => op(a));
    for (let i = 0; i < 10; i++) expect((await store.check(ops)).outcomes).toHaveLength(10);
    expect(store.stats.roundTrips - before).toBe(10);
    expect(redisRoundTrips() - globalBefore).toBeGreaterThanOrEqual(10);
  });

  it('uses Redis server time when no test clock is given', async () => {
    const store = createRedisStore({ redis, prefix: PREFIX });
    const tb = op(ALG.TokenBucket, { limit: 1, periodMs: 3_600_000, burst: 2 });
    expect((await store.check([tb])).allowed).toBe(true);
    expect((await store.check([tb])).allowed).toBe(true);
    const r = await store.check([tb]);
    expect(r.allowed).toBe(false);
    // About an hour until the next token; server time moved by a few ms at most.
    expect(r.outcomes[0]?.retryMs).toBeGreaterThan(3_590_000);
    expect(r.outcomes[0]?.retryMs).toBeLessThanOrEqual(3_600_000);
  });

  it('every key it writes has a TTL no longer than its state matters', async () => {
    const store = createRedisStore({ redis, prefix: PREFIX });
    const ops = ALL.map((a) => op(a, { periodMs: 10_000, cost: 3 }));
    await store.check(ops);
    for (const o of ops) {
      const ttl = await redis.pttl(PREFIX + o.key);
      expect(ttl, `algorithm ${o.alg}`).toBeGreaterThan(0);
      expect(ttl, `algorithm ${o.alg}`).toBeLessThanOrEqual(20_002);
    }
  });

  it('recovers from NOSCRIPT (script cache flushed) with one extra round trip', async () => {
    const store = createRedisStore({ redis, prefix: PREFIX });
    const g = op(ALG.GCRA, { limit: 2, burst: 2 });
    await store.check([g]);
    await redis.script('FLUSH');
    expect(await redis.script('EXISTS', LIMIT_SCRIPT_SHA)).toEqual([0]);
    const before = { ...store.stats };
    const r = await store.check([g]);
    expect(r.outcomes[0]).toMatchObject({ allowed: true, remaining: 0 });
    expect(store.stats.scriptReloads - before.scriptReloads).toBe(1);
    expect(store.stats.roundTrips - before.roundTrips).toBe(2);
    expect(await redis.script('EXISTS', LIMIT_SCRIPT_SHA)).toEqual([1]);
    await store.check([g]);
    expect(store.stats.roundTrips - before.roundTrips).toBe(3);
  });

  it('refuses a prefix that would break the hash tag', () => {
    expect(() => createRedisStore({ redis, prefix: 'a{b}:' })).toThrow(/must not contain/);
  });

  it('gives up after its own timeout when Redis does not answer', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const addr = silent.address();
    if (!addr || typeof addr === 'string') throw new Error('no port');
    const client = new Redis(addr.port, '127.0.0.1', {
      enableOfflineQueue: false,
      enableReadyCheck: false,
      disableClientInfo: true,
      commandTimeout: 10_000,
    });
    client.on('error', () => {});
    try {
      await new Promise((resolve) => client.once('ready', resolve));
      const store = createRedisStore({ redis: client, prefix: PREFIX, timeoutMs: 80 });
      const started = performance.now();
      await expect(store.check([op(ALG.GCRA)])).rejects.toBeInstanceOf(LimitStoreTimeoutError);
      expect(performance.now() - started).toBeLessThan(300);
      // The check's own (shorter) timeout wins over the store's.
      await expect(store.check([op(ALG.GCRA)], 30)).rejects.toThrow(/30 ms/);
      expect(store.stats.timeouts).toBe(2);
    } finally {
      client.disconnect();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
