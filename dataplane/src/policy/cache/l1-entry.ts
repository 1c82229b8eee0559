/**
 * An entry as L1 holds it, and what the collector sees of it. With a miss on every request, L1
 * turns over all its entries every maxEntries requests: each entry outlives two young collections
 * (it is copied twice), is promoted, and later dies in the old generation; every object it is made
 * of is copied, marked and swept on the way. So an entry a miss stored is three objects: itself,
 * its key, and one string holding its stored headers and a small body (entry.ts: packedText); its
 * times are small integers inside it, not numbers V8 would keep as objects of their own. (On the
 * miss benchmark: 378 bytes promoted per request, against 454 with the six objects an entry was
 * before.) The answer as an object (`response`: headers as a record, the body as a buffer) is made
 * when something reads it — a hit, a follower, the Redis level — and then kept instead of the
 * string.
 *
 * An entry made from an answer that is already an object (from Redis, or one whose header value
 * holds the packing's separator) keeps that object.
 */
import type { Linked } from '../../recency.js';
import {
  ENTRY_OVERHEAD_BYTES,
  entrySize,
  headersFromPairs,
  ownedBody,
  ownedCopy,
  packable,
  packedText,
  SEP,
  tagBytes,
  unpackHeaders,
  type CachedResponse,
} from './entry.js';
import { keyHash, type KeyedEntry } from './key-table.js';

/** What callers hand to L1 for an answer they hold as an object. */
export interface L1Item {
  readonly key: string;
  readonly response: CachedResponse;
  /** Bytes counted for this entry (see entrySize). */
  readonly size: number;
  /** Wall-clock ms: fresh in L1 before, stale after. */
  readonly freshUntil: number;
  /** Wall-clock ms: dropped from then on (fresh plus the longest stale window). */
  readonly keepUntil: number;
  /** The invalidation sequence number of the lookup it answers (versions.ts). */
  readonly seq: number;
}

/** An upstream's answer as a miss collected it, to be stored (see L1Entry.answer). */
export interface UpstreamAnswer {
  readonly key: string;
  readonly status: number;
  /** The headers to store, names and values alternating (entry.ts: storedPairs); taken over. */
  readonly pairs: string[];
  /** The body as the network gave it, and its size. */
  readonly chunks: readonly Buffer[];
  readonly bodySize: number;
  readonly tags: readonly string[];
  /** The invalidation sequence number of the lookup it answers (versions.ts). */
  readonly seq: number;
  /** Wall-clock ms: when the upstream answered; until when the answer is fresh (its own, L2's); fresh in L1; kept in L1. */
  readonly storedAt: number;
  readonly responseFreshUntil: number;
  readonly freshUntil: number;
  readonly keepUntil: number;
}

/** What an entry is made of (the packed form, or an object's fields). */
interface Parts {
  readonly key: string;
  readonly status: number;
  /** The stored headers and a small body in one string (entry.ts: packedText); '' for an object. */
  readonly text: string;
  /** Where the body starts in `text`; -1: the body is `body` (or in the object). */
  readonly bodyAt: number;
  /** A body too large for the string. */
  readonly body: Buffer | undefined;
  readonly tags: readonly string[];
  readonly size: number;
  readonly seq: number;
  readonly storedAt: number;
  readonly responseFreshUntil: number;
  readonly freshUntil: number;
  readonly keepUntil: number;
}

/** A wall-clock time in ms as two small integers (V8 keeps a number past 2^31 as an object of its own). */
const SPLIT = 2 ** 30;

export class L1Entry implements Linked<L1Entry>, KeyedEntry {
  readonly key: string;
  readonly keyHash: number;
  readonly status: number;
  readonly tags: readonly string[];
  /** Bytes counted for this entry (see entrySize). */
  readonly size: number;
  /** The invalidation sequence number of the lookup it answers (versions.ts). */
  readonly seq: number;
  older: L1Entry | undefined = undefined;
  newer: L1Entry | undefined = undefined;
  /** storedAt = #atHigh * SPLIT + #atLow. */
  readonly #atHigh: number;
  readonly #atLow: number;
  /** The other times as ms after storedAt. */
  readonly #responseFreshFor: number;
  readonly #freshFor: number;
  readonly #keepFor: number;
  /** The packed answer ('' once `response` was made, or for an entry made from an object). */
  #text: string;
  readonly #bodyAt: number;
  #body: Buffer | undefined;
  #response: CachedResponse | undefined;

  private constructor(a: Parts, response: CachedResponse | undefined) {
    this.key = a.key;
    this.keyHash = keyHash(a.key);
    this.status = a.status;
    this.tags = a.tags;
    this.size = a.size;
    this.seq = a.seq;
    const at = a.storedAt;
    this.#atLow = at % SPLIT;
    this.#atHigh = (at - this.#atLow) / SPLIT;
    this.#responseFreshFor = a.responseFreshUntil - at;
    this.#freshFor = a.freshUntil - at;
    this.#keepFor = a.keepUntil - at;
    this.#text = a.text;
    this.#bodyAt = a.bodyAt;
    this.#body = a.body;
    this.#response = response;
  }

  /** An entry for an answer held as an object. */
  static of(item: L1Item): L1Entry {
    const r = item.response;
    return new L1Entry(
      {
        key: item.key,
        status: r.status,
        text: '',
        bodyAt: -1,
        body: undefined,
        tags: r.tags,
        size: item.size,
        seq: item.seq,
        storedAt: r.storedAt,
        responseFreshUntil: r.freshUntil,
        freshUntil: item.freshUntil,
        keepUntil: item.keepUntil,
      },
      r,
    );
  }

  /**
   * An entry for an upstream's answer: packed (made an object when read), or as an object when a
   * header value holds the packing's separator.
   */
  static answer(a: UpstreamAnswer): L1Entry {
    const { key, status, pairs, tags, seq, storedAt, responseFreshUntil, freshUntil, keepUntil } = a;
    if (!packable(pairs)) {
      const body = ownedCopy(a.chunks, a.bodySize);
      const response: CachedResponse = { status, headers: headersFromPairs(pairs), body, storedAt, freshUntil: responseFreshUntil, tags };
      return L1Entry.of({ key, response, size: entrySize(response), freshUntil, keepUntil, seq });
    }
    const owned = ownedBody(a.chunks, a.bodySize);
    const small = typeof owned === 'string' ? owned : undefined;
    const body = typeof owned === 'string' ? undefined : owned;
    const { text, bodyAt } = packedText(pairs, small);
    const size = ENTRY_OVERHEAD_BYTES + text.length + (body?.length ?? 0) + tagBytes(tags);
    return new L1Entry(
      { key, status, text, bodyAt, body, tags, size, seq, storedAt, responseFreshUntil, freshUntil, keepUntil },
      undefined,
    );
  }

  /** Wall-clock ms when the upstream answered. */
  get storedAt(): number {
    return this.#atHigh * SPLIT + this.#atLow;
  }

  /** Wall-clock ms: fresh in L1 before, stale after. */
  get freshUntil(): number {
    return this.storedAt + this.#freshFor;
  }

  /** Wall-clock ms: dropped from then on (fresh plus the longest stale window). */
  get keepUntil(): number {
    return this.storedAt + this.#keepFor;
  }

  /** The answer as an object (made from the packed string on the first read, then kept). */
  get response(): CachedResponse {
    let r = this.#response;
    if (r === undefined) {
      const text = this.#text;
      const at = this.#bodyAt;
      const headers = unpackHeaders(at < 0 ? text : text.slice(0, Math.max(0, at - SEP.length)));
      let body = this.#body;
      if (body === undefined) {
        // A buffer of its own (Buffer.from would cut a small one from a shared pool slab).
        body = Buffer.allocUnsafeSlow(text.length - at);
        body.write(text.slice(at), 'latin1');
      }
      const storedAt = this.storedAt;
      r = { status: this.status, headers, body, storedAt, freshUntil: storedAt + this.#responseFreshFor, tags: this.tags };
      this.#response = r;
      this.#text = '';
      this.#body = undefined;
    }
    return r;
  }
}
