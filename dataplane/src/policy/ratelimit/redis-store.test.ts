import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { freePort } from '@jarvis/e2e/dist/envtest/ports.js';
import { ensureRedis } from '@jarvis/e2e/dist/redis/index.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { LIMIT_SCRIPT, LIMIT_SCRIPT_SHA } from './lua.js';
import { createMemoryStore } from './memory-store.js';
import {
  createRedisStore,
  parseReply,
  LimitStoreOverloadError,
  LimitStoreTooLargeError,
  LimitStoreTimeoutError,
  MAX_BATCH_OPS,
  MAX_CHECK_OPS,
  redisRoundTrips,
} from './redis-store.js';
import { ALG, type AlgCode, type LimitOp, type StoreSink } from './types.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `test:rl:store:${randomUUID()}:`;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { enableOfflineQueue: true, maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
  // Tests that count round trips expect the script cached, whichever of them runs first.
  await redis.script('LOAD', LIMIT_SCRIPT);
});

/** Private Redis processes and their clients, stopped after the file. */
const stops: (() => void | Promise<void>)[] = [];

/**
 * A connected client of a redis-server of this test's own (the e2e harness's throwaway server on
 * a free port), for what must not touch the shared one: SCRIPT FLUSH, CLIENT PAUSE.
 */
async function privateRedis(): Promise<{ own: Redis; url: string }> {
  const server = await ensureRedis(`redis://127.0.0.1:${await freePort()}`);
  stops.push(() => server.stop());
  const own = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  stops.push(() => own.disconnect());
  await own.connect();
  return { own, url: server.url };
}

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
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

  it('checks started in one event-loop turn share one round trip, and decide like checks sent one by one', async () => {
    // A pool of counters (every algorithm, shadow and Wait levels among them); each step sends
    // a random number of requests, each with a random subset of the counters and a random cost,
    // all in one turn to Redis, and one after the other to a memory store at the same instant.
    // Every outcome must be the same, bit for bit, and each step must be one round trip.
    for (let seed = 1; seed <= 12; seed++) {
      let x = seed * 2654435761;
      const rand = (): number => (x = (Math.imul(x ^ (x >>> 15), 2246822507) + 0x6d2b79f5) >>> 0) / 4294967296;
      const time = new ManualTime();
      const redisStore = createRedisStore({ redis, prefix: PREFIX, testNow: () => time.now() });
      const memory = createMemoryStore({ clock: time, maxKeys: 1000 });
      const pool = Array.from({ length: 8 }, (_, i) => {
        const alg = ALL[i % ALL.length] as AlgCode;
        const limit = 3 + Math.floor(rand() * 6);
        return op(alg, {
          limit,
          periodMs: 1000,
          burst: alg === ALG.TokenBucket || alg === ALG.GCRA ? 2 + Math.floor(rand() * 4) : limit,
          shadow: i === 7,
          maxWaitMs: alg === ALG.GCRA && i !== 7 && rand() < 0.5 ? 300 : -1,
          // Like the limiter's levels, most carry a spec object (sent once per round trip); the
          // others are a spec of their own per op.
          ...(i % 3 !== 2 ? { spec: {} } : {}),
        });
      });
      // Counters of one level for other users: other keys, the same spec object.
      pool.push(...pool.filter((o) => o.spec !== undefined).map((o) => ({ ...o, key: `${o.key}:other-user` })));
      for (let step = 0; step < 25; step++) {
        time.advance(Math.floor(rand() * 400));
        const requests = Array.from({ length: 1 + Math.floor(rand() * 30) }, () => {
          const cost = 1 + Math.floor(rand() * 2);
          return pool.filter(() => rand() < 0.4).map((o) => ({ ...o, cost }));
        });
        const before = redisStore.stats.roundTrips;
        const got = await Promise.all(requests.map((ops) => redisStore.check(ops)));
        expect(redisStore.stats.roundTrips - before, `seed ${seed} step ${step}`).toBe(1);
        const want = requests.map((ops) => memory.checkSync(ops));
        expect({ seed, step, got }).toEqual({ seed, step, got: want });
      }
      expect(redisStore.stats.checkRoundTrips).toBe(redisStore.stats.checks);
    }
  });

  it('times past 2^53 µs are capped the same way by both stores, and do not fail the batch', async () => {
    // A huge burst drained at one request an hour: its reset is 3.6e15 ms, beyond exact integers in µs.
    const time = new ManualTime();
    const redisStore = createRedisStore({ redis, prefix: PREFIX, testNow: () => time.now() });
    const memory = createMemoryStore({ clock: time, maxKeys: 100 });
    const huge = op(ALG.TokenBucket, { limit: 1, periodMs: 3_600_000, burst: 1e9, cost: 1e9 });
    const plain = op(ALG.GCRA);
    const got = await Promise.all([redisStore.check([huge]), redisStore.check([plain])]);
    expect(redisStore.stats.roundTrips).toBe(1);
    expect(got).toEqual([memory.checkSync([huge]), memory.checkSync([plain])]);
    expect(got[0]?.outcomes[0]?.resetMs).toBe(Number.MAX_SAFE_INTEGER / 1000);
  });

  it('a batch carries at most maxBatch checks and MAX_BATCH_OPS ops', async () => {
    const small = createRedisStore({ redis, prefix: PREFIX, maxBatch: 3 });
    const g = op(ALG.GCRA, { limit: 100, burst: 100 });
    const r = await Promise.all(Array.from({ length: 10 }, () => small.check([g])));
    expect(r.map((x) => x.outcomes[0]?.remaining)).toEqual([99, 98, 97, 96, 95, 94, 93, 92, 91, 90]);
    expect(small.stats.roundTrips).toBe(4);
    // 400 ops a check: two checks per round trip; a check with more than the bound goes alone.
    const big = createRedisStore({ redis, prefix: PREFIX });
    const wide = Array.from({ length: 400 }, () => op(ALG.FixedWindow));
    await Promise.all(Array.from({ length: 5 }, () => big.check(wide)));
    expect(big.stats.roundTrips).toBe(3);
    const huge = Array.from({ length: MAX_BATCH_OPS + 1 }, () => op(ALG.FixedWindow));
    const [a, b] = await Promise.all([big.check(huge), big.check([g])]);
    expect(a.outcomes).toHaveLength(MAX_BATCH_OPS + 1);
    expect(b.outcomes[0]?.remaining).toBe(89);
    expect(big.stats.roundTrips).toBe(5);
    expect(() => createRedisStore({ redis, prefix: PREFIX, maxBatch: 0 })).toThrow(/batch size/);
  });

  it('a script error fails every check of its batch, counted as one failed round trip', async () => {
    const store = createRedisStore({ redis, prefix: PREFIX });
    const log = op(ALG.SlidingLog);
    await redis.set(PREFIX + log.key, 'not a sorted set'); // ZRANGEBYSCORE answers WRONGTYPE
    const results = await Promise.allSettled([store.check([op(ALG.GCRA)]), store.check([log]), store.check([op(ALG.FixedWindow)])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(store.stats).toMatchObject({ roundTrips: 1, checks: 3, errors: 1, timeouts: 0 });
  });

  it('refuses checks at once while too many round trips are unanswered, and sends again when they are', async () => {
    // On a private server: CLIENT PAUSE holds every client of the server it is sent to.
    const { own, url } = await privateRedis();
    await own.script('LOAD', LIMIT_SCRIPT);
    const store = createRedisStore({ redis: own, prefix: PREFIX, maxOutstanding: 2 });
    const g = op(ALG.GCRA, { limit: 100, burst: 100, periodMs: 3_600_000 }); // nothing returns during the pause
    await store.check([g]);
    const control = new Redis(url, { lazyConnect: true });
    await control.connect();
    try {
      // Redis holds every command for 1.5 s: two round trips stay unanswered meanwhile.
      await control.call('CLIENT', 'PAUSE', '1500', 'ALL');
      const turn = () => new Promise((r) => setImmediate(r));
      const first = store.check([g]);
      await turn();
      const second = store.check([g]);
      await turn();
      await expect(store.check([g])).rejects.toBeInstanceOf(LimitStoreOverloadError);
      expect(store.stats).toMatchObject({ roundTrips: 3, shed: 1 });
      expect((await Promise.all([first, second])).map((r) => r.outcomes[0]?.remaining)).toEqual([98, 97]);
      expect((await store.check([g])).outcomes[0]?.remaining).toBe(96);
    } finally {
      control.disconnect();
    }
  });

  it('one check of MAX_CHECK_OPS counters fits one round trip; one more is refused before anything is sent', async () => {
    const store = createRedisStore({ redis, prefix: PREFIX });
    const most = Array.from({ length: MAX_CHECK_OPS }, (_, i) => op(i % 2 === 0 ? ALG.GCRA : ALG.FixedWindow));
    const r = await store.check(most);
    expect(r.outcomes).toHaveLength(MAX_CHECK_OPS);
    expect(r.outcomes.every((o) => o.allowed && o.remaining === 9)).toBe(true);
    const before = { ...store.stats };
    const alongside = store.check([op(ALG.GCRA)]); // in the same turn: not held up by the refusal
    await expect(store.check([...most, op(ALG.GCRA)])).rejects.toBeInstanceOf(LimitStoreTooLargeError);
    expect((await alongside).outcomes[0]?.allowed).toBe(true);
    expect(store.stats.roundTrips - before.roundTrips).toBe(1);
    expect(store.stats.errors - before.errors).toBe(1);
    // Nothing of the refused check was charged.
    expect((await store.check(most.slice(0, 3))).outcomes.map((o) => o.remaining)).toEqual([8, 8, 8]);
  });

  it('submit hands each check of a batch to its sink, never before submit returns; a sink that throws keeps no other from its result', async () => {
    const store = createRedisStore({ redis, prefix: PREFIX });
    const got: string[] = [];
    let returned = false;
    const sink = (name: string, boom = false): StoreSink => ({
      stored: (r) => {
        got.push(`${name} ${returned ? 'after' : 'before'} ${r.outcomes.map((o) => o.remaining).join(',')}`);
        if (boom) throw new Error('receiver bug');
      },
      failed: (e) => got.push(`${name} failed ${e.name}`),
    });
    const shared = op(ALG.FixedWindow);
    const before = store.stats.roundTrips;
    store.submit([shared], undefined, sink('first', true));
    store.submit([shared, op(ALG.GCRA)], undefined, sink('second'));
    // Too many counters: refused without a round trip, and still only after submit returned.
    store.submit(
      Array.from({ length: MAX_CHECK_OPS + 1 }, () => op(ALG.GCRA)),
      undefined,
      sink('huge'),
    );
    returned = true;
    await expect.poll(() => got.length).toBe(3);
    expect(got.sort()).toEqual(['first after 9', 'huge failed LimitStoreTooLargeError', 'second after 8,9']);
    expect(store.stats.roundTrips - before).toBe(1);
  });

  it('a disconnected client fails every check of the batch at once', async () => {
    const client = new Redis(REDIS_URL, { enableOfflineQueue: false, lazyConnect: true });
    const store = createRedisStore({ redis: client, prefix: PREFIX, timeoutMs: 5_000 });
    expect(store.ready()).toBe(false);
    const results = await Promise.allSettled([store.check([op(ALG.GCRA)]), store.check([op(ALG.GCRA)])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(store.stats).toMatchObject({ errors: 1, timeouts: 0 });
  });

  it('a counter that does not read as its state counts as absent, and is written anew', async () => {
    const store = createRedisStore({ redis, prefix: PREFIX });
    const g = op(ALG.GCRA, { limit: 5, burst: 5 });
    const tb = op(ALG.TokenBucket, { limit: 5, burst: 5 });
    await redis.set(PREFIX + g.key, 'garbage');
    await redis.set(PREFIX + tb.key, 'x y');
    const r = await store.check([g, tb]);
    expect(r.outcomes.map((o) => o.remaining)).toEqual([4, 4]);
    expect((await store.check([g, tb])).outcomes.map((o) => o.remaining)).toEqual([3, 3]);
  });

  it('one sliding log twice in a request keeps both entries, like the memory store', async () => {
    const time = new ManualTime();
    const redisStore = createRedisStore({ redis, prefix: PREFIX, testNow: () => time.now() });
    const memory = createMemoryStore({ clock: time, maxKeys: 100 });
    const log = op(ALG.SlidingLog, { limit: 5, periodMs: 1000 });
    for (const ops of [[log, log], [log, log], [log]]) {
      const [got, want] = [await redisStore.check(ops), memory.checkSync(ops)];
      expect(got).toEqual(want);
    }
    expect(await redis.zcard(PREFIX + log.key)).toBe(5);
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

  it('loads the script on first contact without counting an error, and recovers from a flushed cache with one extra round trip, counted', async () => {
    // On a private server: a SCRIPT FLUSH on the shared one would cost the test files running
    // beside this one an extra round trip they do not expect.
    const { own } = await privateRedis();
    const store = createRedisStore({ redis: own, prefix: PREFIX });
    const g = op(ALG.GCRA, { limit: 2, burst: 2 });
    await store.check([g]);
    // A new server has never seen the script: loaded, not an error.
    expect(store.stats).toMatchObject({ scriptLoads: 1, scriptReloads: 0, errors: 0, roundTrips: 2 });
    await store.check([op(ALG.GCRA)]);
    expect(store.stats).toMatchObject({ scriptLoads: 1, scriptReloads: 0, roundTrips: 3 });
    await own.script('FLUSH');
    expect(await own.script('EXISTS', LIMIT_SCRIPT_SHA)).toEqual([0]);
    const before = { ...store.stats };
    const r = await store.check([g]);
    expect(r.outcomes[0]).toMatchObject({ allowed: true, remaining: 0 });
    expect(store.stats.scriptReloads - before.scriptReloads).toBe(1);
    expect(store.stats.scriptLoads).toBe(1);
    expect(store.stats.roundTrips - before.roundTrips).toBe(2);
    expect(await own.script('EXISTS', LIMIT_SCRIPT_SHA)).toEqual([1]);
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
      expect(performance.now() - started).toBeLessThan(2000); // its own 80 ms, far from the client's 10 s
      // The check's own (shorter) timeout wins over the store's.
      await expect(store.check([op(ALG.GCRA)], 30)).rejects.toThrow(/30 ms/);
      expect(store.stats.timeouts).toBe(2);
      // Two checks in one round trip, each with its own timeout, counted from its start.
      const time = new ManualTime();
      const timed = createRedisStore({ redis: client, prefix: PREFIX, timeoutMs: 80, clock: time, timers: time });
      const settled: string[] = [];
      const short = timed.check([op(ALG.GCRA)], 30).catch((e: unknown) => void settled.push(`short ${String(e)}`));
      time.advance(10);
      const long = timed.check([op(ALG.GCRA)]).catch((e: unknown) => void settled.push(`long ${String(e)}`));
      await new Promise((r) => setImmediate(r)); // the batch is sent
      expect(timed.stats.roundTrips).toBe(1);
      time.advance(19);
      await Promise.resolve();
      expect(settled).toEqual([]);
      time.advance(1);
      await short;
      expect(settled).toEqual(['short LimitStoreTimeoutError: rate-limit store did not answer within 30 ms']);
      time.advance(59); // the second started 10 ms later: its 80 ms end at 90
      await Promise.resolve();
      expect(settled).toHaveLength(1);
      time.advance(1);
      await long;
      expect(settled[1]).toBe('long LimitStoreTimeoutError: rate-limit store did not answer within 80 ms');
      expect(timed.stats.timeouts).toBe(1);
    } finally {
      client.disconnect();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

describe('the script reply', () => {
  it('reads per check admitted, wait, then four integers per op; times in µs become ms', () => {
    const got = parseReply('1 0 1 9 1500 0 0 250 0 -1 3000 -1 0 0 0 0', [{ ops: 1 }, { ops: 2 }]);
    expect(got).toEqual([
      { allowed: true, waitMs: 0, outcomes: [{ allowed: true, remaining: 9, resetMs: 1.5, retryMs: 0 }] },
      {
        allowed: false,
        waitMs: 0.25,
        outcomes: [
          { allowed: false, remaining: -1, resetMs: 3, retryMs: -0.001 },
          { allowed: false, remaining: 0, resetMs: 0, retryMs: 0 },
        ],
      },
    ]);
    // A Buffer reply reads the same.
    expect(parseReply(Buffer.from('0 0 0 0 7 1000'), [{ ops: 1 }])[0]?.outcomes[0]).toEqual({
      allowed: false,
      remaining: 0,
      resetMs: 0.007,
      retryMs: 1,
    });
  });

  it('reads every safe integer, the largest the script prints', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expect(parseReply(`1 ${max} 1 ${max} ${max} -${max}`, [{ ops: 1 }])[0]).toEqual({
      allowed: true,
      waitMs: max / 1000,
      outcomes: [{ allowed: true, remaining: max, resetMs: max / 1000, retryMs: -max / 1000 }],
    });
    expect(() => parseReply(`1 0 1 ${max + 1} 0 0`, [{ ops: 1 }])).toThrow(/unexpected rate-limit script reply/);
  });

  it('refuses a reply that is not exactly the integers its checks need', () => {
    const one = [{ ops: 1 }];
    for (const bad of [
      '1 0 1 9 1500',
      '1 0 1 9 1500 0 5',
      '1 0 1 9 1500 0 ',
      '1  0 1 9 1500 0',
      '1 0 1 9 1.5 0',
      '1 0 1 9 x 0',
      '',
      '1 0 1 9 1500 12345678901234567',
      42,
      null,
    ])
      expect(() => parseReply(bad, one), JSON.stringify(bad)).toThrow(/unexpected rate-limit script reply/);
  });
});
