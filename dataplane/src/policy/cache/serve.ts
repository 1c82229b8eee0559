/**
 * Answering from the cache: the stored status, headers and body, plus `Age` (whole seconds since
 * the upstream answered) and `x-jarvis-cache` saying where the answer came from. The exchange's
 * own response headers (RateLimit fields) are added as they are to every answer.
 *
 * A request that asks with `x-jarvis-cache-debug: key` also gets `x-jarvis-cache-key`, the id of
 * its entry (key.ts), to invalidate it by key; it costs a SHA-256, so it is not computed for
 * requests that do not ask.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Exchange } from '../../pipeline/exchange.js';
import type { CachedResponse } from './entry.js';
import { keyId } from './key.js';

/** The `x-jarvis-cache` response header. */
export const CACHE_HEADER = 'x-jarvis-cache';
/** The entry's id, for invalidation by key (`POST /admin/cache/invalidate`), when the request asks for it. */
export const CACHE_KEY_HEADER = 'x-jarvis-cache-key';
/** The request header that asks for CACHE_KEY_HEADER: its value lists `key` (comma-separated, any case). */
export const CACHE_DEBUG_HEADER = 'x-jarvis-cache-debug';

/** Whether the request asks for its entry's id (CACHE_DEBUG_HEADER lists `key`). */
export function wantsKey(headers: IncomingHttpHeaders): boolean {
  const v = headers[CACHE_DEBUG_HEADER];
  if (typeof v !== 'string') return false;
  for (const item of v.split(',')) if (item.trim().toLowerCase() === 'key') return true;
  return false;
}

/** The headers of a miss that did not ask for its key: one object for all (Exchange.addResponseHeaders merges into a new one). */
const MISS_HEADERS: OutgoingHttpHeaders = Object.freeze({ [CACHE_HEADER]: 'miss' });

/**
 * The headers of a miss: CACHE_HEADER, and CACHE_KEY_HEADER with `id` when given (spelled out: an
 * object literal of plain names is made from a template, one with computed names property by
 * property).
 */
export function missHeaders(id?: string): OutgoingHttpHeaders {
  return id === undefined ? MISS_HEADERS : { 'x-jarvis-cache': 'miss', 'x-jarvis-cache-key': id };
}

/**
 * hit-l1 / hit-l2: fresh from that level; coalesced: the answer of an identical request that was
 * in flight; stale: past its freshness (stale-while-revalidate, or instead of an upstream error);
 * miss: from upstream (stored when cacheable); bypass: the request cannot use the cache (no
 * identity for the isolation scope, or a body too large to key).
 */
export type CacheStatus = 'hit-l1' | 'hit-l2' | 'coalesced' | 'stale' | 'miss' | 'bypass';

export function ageSeconds(now: number, storedAt: number): number {
  return Math.max(0, Math.floor((now - storedAt) / 1000));
}

/** Writes the whole answer (entry `key`: its identity) and sets the exchange's status. */
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
  if (wantsKey(x.req.headers)) headers[CACHE_KEY_HEADER] = keyId(key);
  // A request body nobody reads (one that was not needed for the key) is drained.
  if (x.hasBody && x.body === undefined) x.req.resume();
  x.status = r.status;
  x.res.writeHead(r.status, headers);
  x.res.end(head ? undefined : r.body);
}
