/**
 * A request the cache could not answer, on its way upstream. It is three things for the exchange:
 *
 * - the response tap (`x.taps`): it watches the committed answer and, when the answer is
 *   cacheable and reached the client completely, stores it in L1 and L2 and hands it to the
 *   requests that waited for it (its flight);
 * - the error cover (`x.cover`, stale-if-error): when the upstream answers 5xx or not at all and a
 *   stale copy is within the policy's staleIfError bound, the client gets that copy instead;
 * - what the stage's `leave` finishes: a flight that never got an answer sends its followers
 *   upstream, and a coalescing lock is released.
 */
import type { CacheIR } from '@jarvis/api';
import type { Clock } from '../../clock.js';
import type { ErrorCover, Exchange, ResponseTap } from '../../pipeline/exchange.js';
import type { UpstreamHead } from '../../proxy/headers.js';
import { responseFacts, responseTags, uncacheableReason } from './cacheable.js';
import { storedPairs, type CachedResponse } from './entry.js';
import { keyId, type Keyed } from './key.js';
import type { Flight, FlightResult } from './flights.js';
import { answerResponse, type UpstreamAnswer } from './l1-entry.js';
import type { RedisLevel } from './l2.js';
import type { PolicyCache } from './policy.js';
import { serveCached } from './serve.js';

/** What every miss of one stage shares. */
export interface MissContext {
  readonly policy: PolicyCache;
  readonly ir: CacheIR;
  /** The Redis level when this policy uses it and the gateway has Redis. */
  readonly l2: RedisLevel | undefined;
  readonly clock: Clock;
  /** How long a hot key stays pinned after its last hot request. */
  readonly pinMs: number;
  /** Counts an outcome (metrics). */
  readonly count: (result: 'stale_if_error' | 'stored' | 'not_stored') => void;
}

/** A stale copy and the end of its freshness. */
export interface StaleCopy {
  readonly response: CachedResponse;
  readonly freshUntil: number;
}

export class Miss implements ResponseTap, ErrorCover, Keyed {
  /** Set when this request leads the flight of its key. */
  flight: Flight | undefined = undefined;
  /** The sequence number of the L2 lookup; undefined when L2 was not consulted (then nothing is stored there). */
  l2Seq: number | undefined = undefined;
  /** The key's hash (key-table.ts), when the stage had it. */
  keyHash: number | undefined = undefined;
  /** The coalescing lock's token, while held. */
  lockToken: string | undefined = undefined;
  /** The freshest stale copy seen by the lookups. */
  stale: StaleCopy | undefined;
  #status = 0;
  /** The headers to store, names and values alternating (entry.ts: storedPairs). */
  #pairs: string[] | undefined;
  #tags: readonly string[] = [];
  #storedAt = 0;
  #chunks: Buffer[] = [];
  #size = 0;
  #off = false;
  #finished = false;
  #id: string | undefined = undefined;

  constructor(
    private readonly ctx: MissContext,
    /** The key's identity (key.ts). */
    readonly key: string,
    /** The local sequence number read before the lookups. */
    readonly seq: number,
    /** Whether the answer may be stored (not the client's no-store). */
    readonly mayStore: boolean,
    readonly hot: boolean,
    stale: StaleCopy | undefined,
    /** A HEAD request (its answer keeps its Content-Length). */
    readonly isHead: boolean,
  ) {
    this.stale = stale;
  }

  /** The key's id (key.ts), computed on the first read: for Redis, the key header, invalidation by key. */
  get id(): string {
    return (this.#id ??= keyId(this.key));
  }

  /** Keeps the fresher of two stale copies. */
  offerStale(copy: StaleCopy): void {
    if (this.stale === undefined || copy.response.storedAt > this.stale.response.storedAt) this.stale = copy;
  }

  /** The exchange whose answer this miss watches (set when it may store): a degraded answer is not stored. */
  exchange: { readonly degraded: boolean } | undefined = undefined;

  // ── the tap ──

  head(status: number, head: UpstreamHead): void {
    const ir = this.ctx.ir;
    const facts = responseFacts(head, ir.invalidation.tagsHeader);
    const tags = uncacheableReason(ir, status, facts) === undefined ? responseTags(facts.tags, ir.invalidation.maxTagsPerEntry) : undefined;
    if (tags === undefined) {
      this.#off = true;
      return;
    }
    this.#status = status;
    this.#tags = tags;
    this.#pairs = storedPairs(head, this.isHead);
    this.#storedAt = this.ctx.clock.now();
  }

  data(chunk: Buffer): void {
    if (this.#off) return;
    this.#size += chunk.length;
    if (this.#size > this.ctx.ir.maxBodyBytes) {
      this.#off = true;
      this.#chunks = [];
      return;
    }
    this.#chunks.push(chunk);
  }

  end(): void {
    const pairs = this.#pairs;
    if (this.#off || pairs === undefined) return this.land(undefined);
    if (this.exchange?.degraded) {
      // A degraded answer (a lower fallback tier, features switched off) is served, never kept.
      this.#chunks = [];
      this.ctx.count('not_stored');
      return this.land(undefined);
    }
    const { ir, policy, l2, clock } = this.ctx;
    const chunks = this.#chunks;
    this.#chunks = [];
    const storedAt = this.#storedAt;
    const l1Fresh = storedAt + ir.l1.ttlMs;
    const freshUntil = l2 ? storedAt + ir.l2.ttlMs : l1Fresh;
    const tags = this.#tags;
    const answer: UpstreamAnswer = {
      key: this.key,
      keyHash: this.keyHash,
      status: this.#status,
      pairs,
      chunks,
      bodySize: this.#size,
      tags,
      seq: this.seq,
      storedAt,
      responseFreshUntil: freshUntil,
      freshUntil: l1Fresh,
      keepUntil: l1Fresh + policy.staleMs,
    };
    // Invalidated while it was on its way: not kept, and not handed to anyone (they go upstream).
    const valid = policy.versions.valid(this.seq, this, tags);
    const stored = policy.storeAnswer(answer, this);
    if (stored && this.hot) policy.l1.pin(this.key, clock.now() + this.ctx.pinMs);
    this.ctx.count(stored ? 'stored' : 'not_stored');
    // The answer as an object only for those who read it: the followers of its flight, the Redis level.
    const toL2 = l2 !== undefined && this.l2Seq !== undefined;
    const response = toL2 || (valid && (this.flight?.followers ?? 0) > 0) ? answerResponse(answer) : undefined;
    this.land(valid && response !== undefined ? { response, stale: false } : undefined);
    if (l2 && response !== undefined && this.l2Seq !== undefined) {
      const token = this.lockToken;
      this.lockToken = undefined;
      void l2.store(policy.id, this.id, this.l2Seq, response, ir.l2.ttlMs + policy.staleMs).then(() => {
        if (token !== undefined) void l2.unlock(policy.id, this.id, token);
      });
    }
  }

  // ── the cover ──

  covers(status: number): boolean {
    const bound = this.ctx.ir.staleIfErrorMs;
    if (bound === undefined || this.stale === undefined || (status !== 0 && status < 500)) return false;
    return this.ctx.clock.now() < this.stale.freshUntil + bound;
  }

  answer(x: Exchange): boolean {
    const copy = this.stale;
    if (copy === undefined || !this.covers(0)) return false;
    serveCached(x, copy.response, 'stale', this.ctx.clock.now(), this.key);
    this.ctx.count('stale_if_error');
    this.land({ response: copy.response, stale: true });
    return true;
  }

  // ── the end of the exchange ──

  /** Runs once from the stage's leave: followers of an unanswered flight go upstream; the lock is released. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.land(undefined);
    const token = this.lockToken;
    if (token !== undefined && this.ctx.l2) {
      this.lockToken = undefined;
      void this.ctx.l2.unlock(this.ctx.policy.id, this.id, token);
    }
  }

  /** Lands this request's flight (if it leads one) with `result`: undefined sends the followers upstream. */
  land(result: FlightResult | undefined): void {
    const f = this.flight;
    if (f === undefined) return;
    this.flight = undefined;
    f.settle(result);
  }
}
