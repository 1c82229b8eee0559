/**
 * The cache stage, after the rate limit and before the queue: a hit answers here, so it never
 * takes a queue slot nor touches the upstream. For a request of a cached method:
 *
 * 1. L1: a fresh entry answers (`hit-l1`). A stale one is kept for later; it answers at once
 *    (`stale`) when the policy allows stale-while-revalidate and an identical request is already
 *    refreshing it.
 * 2. Coalescing: when an identical request is in flight, wait for its answer (`coalesced`), at
 *    most maxWait; then go upstream yourself.
 * 3. L2 (Redis, when the policy uses it): a fresh entry answers (`hit-l2`) and fills L1. With
 *    acrossReplicas, a miss takes the key's Redis lock; when another gateway holds it, a stale
 *    copy answers under stale-while-revalidate, else this request waits for the answer to show
 *    up in Redis (polling, at most maxWait).
 * 4. Miss: the request goes on upstream (`miss`); its answer is stored when cacheable
 *    (miss.ts), and a stale copy covers an upstream error under stale-if-error.
 *
 * A key hashes the body the buffer stage read (up to --request-buffer-bytes; the inspect stage's
 * on LLM routes). A client's `Cache-Control: no-cache` skips 1–3; `no-store` keeps the answer
 * out. A request that cannot be keyed (isolation scope without its identity, a body larger than
 * the buffer, which streams) is `bypass`.
 * Hot keys (a value the hot-key stage flagged in this request) are pinned in L1 while hot.
 */
import { kindFeature, type CacheIR, type RouteIR } from '@jarvis/api';
import type { Clock, Timers } from '../../clock.js';
import type { StageContext } from '../../pipeline/context.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { ANSWERED, CONTINUE, type Stage, type StageFactory, type Verdict } from '../../pipeline/stage.js';
import { parseJsonBounded } from '../../inspect/json.js';
import { requestRules, type RequestRules } from './cacheable.js';
import { MAX_DEPTH } from './canonical.js';
import type { FlightResult } from './flights.js';
import { entrySize } from './entry.js';
import { compileKey, type KeyOf } from './key.js';
import { keyHash } from './key-table.js';
import type { L2Lookup, RedisLevel } from './l2.js';
import { Miss, type MissContext, type StaleCopy } from './miss.js';
import type { PolicyCache } from './policy.js';
import { CACHE_HEADER, missHeaders, serveCached, wantsKey, type CacheStatus } from './serve.js';

/** How often a request waiting for another gateway's answer looks in Redis. */
export const POLL_MS = 20;
/** The shortest pin of a hot key (when the route's hot-key cooldown is shorter). */
export const MIN_PIN_MS = 1000;

/** Outcomes counted per policy (jarvis_gateway_cache_requests_total). */
export type CacheOutcome = 'hit_l1' | 'hit_l2' | 'coalesced' | 'stale' | 'miss' | 'bypass' | 'stale_if_error' | 'stored' | 'not_stored';

export interface CacheStageDeps {
  readonly clock: Clock;
  readonly timers: Timers;
  /** The Redis level when this policy uses L2 and the gateway has Redis. */
  readonly l2: RedisLevel | undefined;
  readonly count: (outcome: CacheOutcome) => void;
}

const BYPASS_HEADERS = Object.freeze({ [CACHE_HEADER]: 'bypass' });
const OUTCOME: Readonly<Record<CacheStatus, CacheOutcome>> = {
  'hit-l1': 'hit_l1',
  'hit-l2': 'hit_l2',
  coalesced: 'coalesced',
  stale: 'stale',
  miss: 'miss',
  bypass: 'bypass',
};

/** Whether the hot-key stage flagged a value of this request (a whole surging route does not count). */
function isHot(x: Exchange): boolean {
  for (const h of x.hot) if (h.parameter !== 'Route') return true;
  return false;
}

export class CacheStage implements Stage {
  readonly name = 'cache';
  readonly #ir: CacheIR;
  readonly #policy: PolicyCache;
  readonly #keyOf: KeyOf;
  readonly #methods: ReadonlySet<string>;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #l2: RedisLevel | undefined;
  readonly #count: (outcome: CacheOutcome) => void;
  readonly #ctx: MissContext;
  /** Whether misses register flights (for coalescing, or to know a stale copy is being refreshed). */
  readonly #tracks: boolean;

  constructor(route: RouteIR, policy: PolicyCache, deps: CacheStageDeps) {
    const ir = policy.ir;
    this.#ir = ir;
    this.#policy = policy;
    this.#keyOf = compileKey(ir, route.id);
    this.#methods = new Set(ir.methods);
    this.#clock = deps.clock;
    this.#timers = deps.timers;
    this.#l2 = ir.l2.enabled ? deps.l2 : undefined;
    this.#count = deps.count;
    this.#tracks = ir.coalescing.enabled || ir.staleWhileRevalidateMs !== undefined;
    this.#ctx = {
      policy,
      ir,
      l2: this.#l2,
      clock: deps.clock,
      pinMs: Math.max(MIN_PIN_MS, route.rateLimit?.hotspot?.cooldownMs ?? 0),
      count: deps.count,
    };
  }

  enter(x: Exchange): Verdict | Promise<Verdict> {
    if (!this.#methods.has(x.method)) return CONTINUE;
    // The body, read by the buffer (or inspect) stage, keyed canonically when it is JSON.
    if (this.#ir.key.body && x.body !== undefined && x.bodyJson === undefined) {
      const parsed = parseJsonBounded(x.body, MAX_DEPTH);
      if (parsed.ok) x.bodyJson = parsed.value;
    }
    const key = this.#keyOf(x);
    if (key === undefined) {
      this.#count('bypass');
      x.addResponseHeaders(BYPASS_HEADERS);
      return CONTINUE;
    }
    const rules: RequestRules = requestRules(this.#ir.respectCacheControl, x.req.headers['cache-control'], x.req.headers['pragma']);
    const p = this.#policy;
    // Read before any lookup: an answer stored for this request is invalid if anything is
    // invalidated from here on (versions.ts).
    const seq = p.versions.seq;
    const hot = isHot(x);
    const now = this.#clock.now();
    // The key's hash, once for L1, the flights and the store.
    const hash = keyHash(key);
    let stale: StaleCopy | undefined;
    if (rules.lookup) {
      const item = p.lookup(key, hash);
      if (item !== undefined) {
        if (now < item.freshUntil) {
          if (hot) p.l1.pin(key, now + this.#ctx.pinMs);
          return this.#serve(x, key, item.response, 'hit-l1', now);
        }
        stale = { response: item.response, freshUntil: item.freshUntil };
        if (this.#revalidating(stale, now) && p.flights.get(key, hash) !== undefined)
          return this.#serve(x, key, item.response, 'stale', now);
      }
      const flight = p.flights.get(key, hash);
      if (flight !== undefined) {
        const wait = this.#ir.coalescing.enabled ? flight.follow() : undefined;
        if (wait !== undefined) return wait.then((r) => this.#followed(x, key, seq, rules, hot, stale, r));
        // Not coalescing: this request goes upstream on its own, beside the one in flight.
        return this.#upstream(x, new Miss(this.#ctx, key, seq, rules.store, hot, stale, x.method === 'HEAD'));
      }
    }
    const miss = new Miss(this.#ctx, key, seq, rules.store, hot, stale, x.method === 'HEAD');
    miss.keyHash = hash;
    if (!rules.lookup) return this.#upstream(x, miss);
    // The flight marks the key as being fetched: followers wait for it (coalescing), and
    // stale-while-revalidate serves stale copies while it is in the air.
    if (this.#tracks) miss.flight = p.flights.lead(key, this.#ir.coalescing.maxWaitMs, now, hash);
    // From here on the exchange's end finishes the miss (lands a flight left in the air), whatever happens.
    x.cacheMiss = miss;
    const l2 = this.#l2;
    if (l2 === undefined || !l2.ready) return this.#upstream(x, miss);
    return l2.lookup(p.id, miss.id).then((r) => this.#looked(x, miss, r));
  }

  leave(x: Exchange): void {
    x.cacheMiss?.finish();
  }

  /** Within the stale-while-revalidate window of a copy. */
  #revalidating(copy: StaleCopy, now: number): boolean {
    const swr = this.#ir.staleWhileRevalidateMs;
    return swr !== undefined && now < copy.freshUntil + swr;
  }

  #serve(x: Exchange, key: string, response: FlightResult['response'], status: CacheStatus, now: number): Verdict {
    this.#count(OUTCOME[status]);
    serveCached(x, response, status, now, key);
    return ANSWERED;
  }

  /** A follower's flight landed: its answer, or upstream on its own (not leading a new flight). */
  #followed(
    x: Exchange,
    key: string,
    seq: number,
    rules: RequestRules,
    hot: boolean,
    stale: StaleCopy | undefined,
    r: FlightResult | undefined,
  ): Verdict {
    const now = this.#clock.now();
    if (r !== undefined) {
      if (hot && !r.stale) this.#policy.l1.pin(key, now + this.#ctx.pinMs);
      return this.#serve(x, key, r.response, r.stale ? 'stale' : 'coalesced', now);
    }
    return this.#upstream(x, new Miss(this.#ctx, key, seq, rules.store, hot, stale, x.method === 'HEAD'));
  }

  /** After the L2 lookup (undefined: Redis unavailable — the request goes on without L2). */
  #looked(x: Exchange, miss: Miss, r: L2Lookup | undefined): Verdict | Promise<Verdict> {
    if (r === undefined) return this.#upstream(x, miss);
    miss.l2Seq = r.seq;
    const now = this.#clock.now();
    const response = r.response;
    if (response !== undefined) {
      if (now < response.freshUntil) return this.#fromL2(x, miss, response, now);
      miss.offerStale({ response, freshUntil: response.freshUntil });
      // Kept in L1 as the stale copy it is: while this request refreshes it, identical ones find
      // it there (stale-while-revalidate) and it can cover an error (stale-if-error).
      const p = this.#policy;
      p.store(
        {
          key: miss.key,
          response,
          size: entrySize(response),
          freshUntil: response.freshUntil,
          keepUntil: response.freshUntil + p.staleMs,
          seq: miss.seq,
        },
        miss,
      );
    }
    const l2 = this.#l2;
    if (!this.#ir.coalescing.acrossReplicas || l2 === undefined) return this.#upstream(x, miss);
    if (r.locked) return this.#elsewhere(x, miss);
    return l2.lock(this.#policy.id, miss.id, this.#ir.coalescing.maxWaitMs).then((token) => {
      if (token === undefined) return this.#elsewhere(x, miss);
      miss.lockToken = token;
      return this.#upstream(x, miss);
    });
  }

  /** A fresh L2 entry: into L1 (fresh no longer than L1's own ttl), to the followers, to the client. */
  #fromL2(x: Exchange, miss: Miss, response: FlightResult['response'], now: number): Verdict {
    const p = this.#policy;
    const freshUntil = Math.min(now + this.#ir.l1.ttlMs, response.freshUntil);
    const stored = p.store(
      {
        key: miss.key,
        response,
        size: entrySize(response),
        freshUntil,
        keepUntil: freshUntil + p.staleMs,
        seq: miss.seq,
      },
      miss,
    );
    if (stored && miss.hot) p.l1.pin(miss.key, now + this.#ctx.pinMs);
    miss.land({ response, stale: false });
    return this.#serve(x, miss.key, response, 'hit-l2', now);
  }

  /**
   * Another gateway is fetching this key (it holds the lock): a stale copy answers under
   * stale-while-revalidate; otherwise wait for its answer in Redis, at most maxWait.
   */
  #elsewhere(x: Exchange, miss: Miss): Verdict | Promise<Verdict> {
    const now = this.#clock.now();
    const copy = miss.stale;
    if (copy !== undefined && this.#revalidating(copy, now)) {
      miss.land({ response: copy.response, stale: true });
      return this.#serve(x, miss.key, copy.response, 'stale', now);
    }
    const l2 = this.#l2;
    if (l2 === undefined) return this.#upstream(x, miss);
    const deadline = now + this.#ir.coalescing.maxWaitMs;
    return new Promise<Verdict>((resolve) => {
      const poll = (): void => {
        if (x.clientGone) return resolve(this.#upstream(x, miss));
        void l2.lookup(this.#policy.id, miss.id).then((r) => {
          const t = this.#clock.now();
          if (r?.response !== undefined && t < r.response.freshUntil) return resolve(this.#fromL2(x, miss, r.response, t));
          // The holder gave up (or Redis is out), or the wait is over: go upstream.
          if (r === undefined || !r.locked || t + POLL_MS > deadline) return resolve(this.#upstream(x, miss));
          this.#timers.after(POLL_MS, poll);
        });
      };
      this.#timers.after(POLL_MS, poll);
    });
  }

  /** The request goes on upstream: its answer is watched (and stored), a stale copy covers errors. */
  #upstream(x: Exchange, miss: Miss): Verdict {
    this.#count('miss');
    x.cacheMiss = miss;
    if (miss.mayStore) {
      miss.exchange = x;
      (x.taps ??= []).push(miss);
    }
    if (this.#ir.staleIfErrorMs !== undefined) x.cover = miss;
    x.addResponseHeaders(missHeaders(wantsKey(x.req.headers) ? miss.id : undefined));
    return CONTINUE;
  }
}

export const cacheStage: StageFactory<StageContext> = {
  name: 'cache',
  features: [kindFeature('CachePolicy')],
  build(route, ctx) {
    const ir = route.cache;
    if (!ir) return undefined;
    const caches = ctx.caches;
    return new CacheStage(route, caches.pending.cache(ir), {
      clock: ctx.clock,
      timers: ctx.timers,
      l2: caches.l2,
      count: caches.counter(ir.namespace),
    });
  },
};
