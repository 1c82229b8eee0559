/**
 * An entry as L1 holds it, and what the collector sees of it. With a miss on every request, L1
 * turns over all its entries every maxEntries requests; were each entry new objects, every one
 * would outlive two young collections (copied twice), be promoted, and die in the old generation.
 * Instead L1 reuses entries: when an insert evicts one, the next answer is written into it (`fill`)
 * — its fields, and its buffer, which holds the stored headers (packed, latin1 as the head decodes
 * them) and the body as bytes and is kept when the next answer fits it. A miss then leaves behind
 * no long-lived object but its key string. Times are small integers inside the entry, not numbers
 * V8 would keep as objects of their own. (On the miss benchmark: 73 bytes promoted per request
 * instead of 465, young collections 0.8 µs per request instead of 1.6.)
 *
 * The answer as an object (`response`: headers as a record, the body as a buffer) is made when
 * something reads it and then kept instead of the buffer until the entry is refilled; its body is
 * a copy, so what was read stays whole after the entry is reused. Nothing outside L1 keeps an entry: a lookup's caller
 * reads it at once. An entry made from an answer that is already an object (from Redis, or one
 * whose header value holds the packing's separator) keeps that object.
 */
import type { Linked } from '../../recency.js';
import { NO_TAGS } from './cacheable.js';
import {
  ENTRY_OVERHEAD_BYTES,
  entrySize,
  headersFromPairs,
  ownedCopy,
  packable,
  packHeaders,
  tagBytes,
  unpackHeaders,
  type CachedResponse,
} from './entry.js';
import { keyId, type Keyed } from './key.js';
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

/** An upstream's answer as a miss collected it, to be stored (see L1Entry.fill). */
export interface UpstreamAnswer {
  readonly key: string;
  /** The key's hash (key-table.ts: keyHash), when the caller has it. */
  readonly keyHash?: number | undefined;
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

/**
 * What a key adds to the bytes counted for its entry: ENTRY_OVERHEAD_BYTES covers the entry and a
 * key of up to KEY_IN_OVERHEAD characters; a longer identity (key.ts: at most MAX_INLINE_KEY) is
 * counted for the rest.
 */
export const KEY_IN_OVERHEAD = 64;
export function keyBytes(key: string): number {
  return key.length > KEY_IN_OVERHEAD ? key.length - KEY_IN_OVERHEAD : 0;
}

/** A wall-clock time in ms as two small integers (V8 keeps a number past 2^31 as an object of its own). */
const SPLIT = 2 ** 30;

/** A buffer is reused for a refill when it holds the answer and is at most twice its size (plus this). */
const REUSE_SLACK_BYTES = 256;
/** The largest buffer an entry set aside keeps (L1 keeps a few such entries: lru.ts, MAX_SPARE). */
export const MAX_SPARE_BUFFER_BYTES = 64 * 1024;

/** The answer of an UpstreamAnswer as an object (for followers of its flight, and the Redis level). */
export function answerResponse(a: UpstreamAnswer): CachedResponse {
  return {
    status: a.status,
    headers: headersFromPairs(a.pairs),
    body: ownedCopy(a.chunks, a.bodySize),
    storedAt: a.storedAt,
    freshUntil: a.responseFreshUntil,
    tags: a.tags,
  };
}

export class L1Entry implements Linked<L1Entry>, KeyedEntry, Keyed {
  /** The key's identity (key.ts). */
  key = '';
  keyHash = 0;
  /** The key's id, once asked for (key.ts: keyId). */
  #id: string | undefined = undefined;
  status = 0;
  tags: readonly string[] = NO_TAGS;
  /** Bytes counted for this entry (see entrySize, and keyBytes; a packed one counts its buffer). */
  size = 0;
  /** The invalidation sequence number of the lookup it answers (versions.ts). */
  seq = 0;
  older: L1Entry | undefined = undefined;
  newer: L1Entry | undefined = undefined;
  /** storedAt = #atHigh * SPLIT + #atLow. */
  #atHigh = 0;
  #atLow = 0;
  /** The other times as ms after storedAt. */
  #responseFreshFor = 0;
  #freshFor = 0;
  #keepFor = 0;
  /** A packed answer's bytes: its headers (packHeaders, latin1), then its body. Kept for the next fill. */
  #bytes: Buffer | undefined = undefined;
  #headersLength = 0;
  #bodyLength = 0;
  /** The answer as an object: made from #bytes when read, or the one the entry was made from. */
  #response: CachedResponse | undefined = undefined;

  /** An entry for an answer held as an object. */
  static of(item: L1Item): L1Entry {
    const e = new L1Entry();
    e.#setObject(item, keyHash(item.key));
    return e;
  }

  /**
   * Makes this entry (new, or one L1 took out) hold an upstream's answer: its stored headers and
   * body as bytes in a buffer of its own — the one it had, when that fits (unless `exact`) — or,
   * when a header value holds the packing's separator, as an object.
   */
  fill(a: UpstreamAnswer, hash: number, exact = false): void {
    if (!packable(a.pairs)) {
      const response = answerResponse(a);
      this.#setObject(
        { key: a.key, response, size: entrySize(response), freshUntil: a.freshUntil, keepUntil: a.keepUntil, seq: a.seq },
        hash,
      );
      return;
    }
    const text = packHeaders(a.pairs);
    const needed = text.length + a.bodySize;
    let bytes = this.#bytes;
    if (bytes === undefined || bytes.length < needed || bytes.length > (exact ? needed : 2 * needed + REUSE_SLACK_BYTES)) {
      bytes = Buffer.allocUnsafeSlow(needed);
      this.#bytes = bytes;
    }
    let at = bytes.write(text, 0, 'latin1');
    for (const c of a.chunks) at += c.copy(bytes, at);
    this.#headersLength = text.length;
    this.#bodyLength = a.bodySize;
    this.#response = undefined;
    this.#setFields(a.key, hash, a.status, a.tags, ENTRY_OVERHEAD_BYTES + bytes.length + tagBytes(a.tags), a.seq, a.storedAt);
    this.#responseFreshFor = a.responseFreshUntil - a.storedAt;
    this.#freshFor = a.freshUntil - a.storedAt;
    this.#keepFor = a.keepUntil - a.storedAt;
  }

  /** Lets go of what the entry refers to; its buffer stays for the next fill when it is at most MAX_SPARE_BUFFER_BYTES. */
  release(): void {
    this.key = '';
    this.#id = undefined;
    this.tags = NO_TAGS;
    this.#response = undefined;
    if (this.#bytes !== undefined && this.#bytes.length > MAX_SPARE_BUFFER_BYTES) this.#bytes = undefined;
  }

  #setObject(item: L1Item, hash: number): void {
    const r = item.response;
    this.#bytes = undefined;
    this.#response = r;
    this.#setFields(item.key, hash, r.status, r.tags, item.size, item.seq, r.storedAt);
    this.#responseFreshFor = r.freshUntil - r.storedAt;
    this.#freshFor = item.freshUntil - r.storedAt;
    this.#keepFor = item.keepUntil - r.storedAt;
  }

  #setFields(key: string, hash: number, status: number, tags: readonly string[], size: number, seq: number, storedAt: number): void {
    this.key = key;
    this.keyHash = hash;
    this.#id = undefined;
    this.status = status;
    this.tags = tags;
    this.size = size + keyBytes(key);
    this.seq = seq;
    this.#atLow = storedAt % SPLIT;
    this.#atHigh = (storedAt - this.#atLow) / SPLIT;
  }

  /** The key's id (key.ts), computed on the first read (for invalidation by key, the key header). */
  get id(): string {
    return (this.#id ??= keyId(this.key));
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

  /**
   * The answer as an object, made from the bytes on the first read and then kept, instead of the
   * bytes, until the entry is refilled; its body is a copy, so it stays whole after that.
   */
  get response(): CachedResponse {
    let r = this.#response;
    if (r === undefined) {
      const bytes = this.#bytes as Buffer;
      const h = this.#headersLength;
      const body = Buffer.allocUnsafeSlow(this.#bodyLength);
      bytes.copy(body, 0, h, h + this.#bodyLength);
      const storedAt = this.storedAt;
      r = {
        status: this.status,
        headers: unpackHeaders(bytes.toString('latin1', 0, h)),
        body,
        storedAt,
        freshUntil: storedAt + this.#responseFreshFor,
        tags: this.tags,
      };
      this.#response = r;
      this.#bytes = undefined;
    }
    return r;
  }
}
