/**
 * Answering from the cache: the stored status, headers and body, plus `Age` (whole seconds since
 * the upstream answered), `x-jarvis-cache` saying where the answer came from and
 * `x-jarvis-cache-key` naming the entry (to invalidate it by key). The exchange's
 * own response headers (RateLimit fields) are added as they are to every answer.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Exchange } from '../../pipeline/exchange.js';
import type { CachedResponse } from './entry.js';

/** The `x-jarvis-cache` response header. */
export const CACHE_HEADER = 'x-jarvis-cache';
/** The entry's key, for invalidation by key (`POST /admin/cache/invalidate`). */
export const CACHE_KEY_HEADER = 'x-jarvis-cache-key';

/**
 * hit-l1 / hit-l2: fresh from that level; coalesced: the answer of an identical request that was
 * in flight; stale: past its freshness (stale-while-revalidate, or instead of an upstream error);
 * miss: from upstream (stored when cacheable); bypass: the request cannot use the cache (no
 * identity for the isolation scope, or a body too large to key).
 */
/**
 * The headers of a miss: CACHE_HEADER and CACHE_KEY_HEADER, spelled out — an object literal of
 * plain names is made from a template, one with computed names property by property.
 */
export function missHeaders(key: string): OutgoingHttpHeaders {
  return { 'x-jarvis-cache': 'miss', 'x-jarvis-cache-key': key };
}

export type CacheStatus = 'hit-l1' | 'hit-l2' | 'coalesced' | 'stale' | 'miss' | 'bypass';

export function ageSeconds(now: number, storedAt: number): number {
  return Math.max(0, Math.floor((now - storedAt) / 1000));
}

/** Writes the whole answer and sets the exchange's status. */
export function serveCached(x: Exchange, r: CachedResponse, status: CacheStatus, now: number, key: string): void {
  const headers: OutgoingHttpHeaders = {};
  for (const name in r.headers) headers[name] = r.headers[name] as string | string[];
  const extra = x.responseHeaders;
  if (extra) for (const name in extra) headers[name] = extra[name];
  const head = x.method === 'HEAD';
  // A HEAD answer keeps the upstream's length of the body it did not send.
  if (!head || headers['content-length'] === undefined) headers['content-length'] = head ? 0 : r.body.length;
  headers['age'] = String(ageSeconds(now, r.storedAt));
  headers[CACHE_HEADER] = status;
  headers[CACHE_KEY_HEADER] = key;
  // A request body nobody reads (one that was not needed for the key) is drained.
  if (x.hasBody && x.body === undefined) x.req.resume();
  x.status = r.status;
  x.res.writeHead(r.status, headers);
  x.res.end(head ? undefined : r.body);
}
