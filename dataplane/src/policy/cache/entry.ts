/**
 * A cached answer as both levels hold it: the upstream's status, its end-to-end headers (without
 * the ones the cache sets itself or that belong to one hop or one client), the body, when it was
 * stored and until when it is fresh, and its tags. In Redis the metadata travels as one JSON
 * field beside the raw body (see l2.ts); `decodeMeta` is the edge where Redis's bytes become a
 * typed value again — anything unexpected is a miss, never a crash.
 */
import { HOP_BY_HOP_HEADERS } from '@jarvis/api';
import { addHeader, connectionNamed, joinRepeated, type UpstreamHead } from '../../proxy/headers.js';
import { INLINE, type HeaderName } from '../../proxy/names.js';

export type StoredHeaders = Readonly<Record<string, string | readonly string[]>>;

export interface CachedResponse {
  readonly status: number;
  readonly headers: StoredHeaders;
  readonly body: Buffer;
  /** Wall-clock ms when the upstream answered (for `Age`). */
  readonly storedAt: number;
  /** Wall-clock ms until which this copy is fresh. */
  readonly freshUntil: number;
  /** The response's own tags (from the policy's tags header). */
  readonly tags: readonly string[];
}

/** Not stored: hop-by-hop, what the cache sets itself (length, Age, the cache status), cookies. Date is kept (with Age it tells how old the answer is). */
const DROPPED = new Set([...HOP_BY_HOP_HEADERS, 'content-length', 'age', 'set-cookie', 'x-jarvis-cache']);

/** The dropped names that are neither hop-by-hop nor numbered in INLINE. */
const DROPPED_OTHERS: readonly string[] = [...DROPPED].filter((name) => !HOP_BY_HOP_HEADERS.has(name) && !Object.hasOwn(INLINE, name));

/** Whether a decoded upstream header is stored (DROPPED), told by its flags and INLINE number for most names. */
function kept(n: HeaderName, keepLength: boolean): boolean {
  if (n.hop) return false;
  switch (n.inline) {
    case 0:
      return !DROPPED_OTHERS.includes(n.lower);
    case INLINE['content-length']:
      return keepLength;
    case INLINE['set-cookie']:
    case INLINE.age:
      return false;
    default:
      return true;
  }
}

/**
 * The upstream headers worth storing, from one pass over its head: names in lower case and values
 * alternating, in the head's order, without those its Connection header names. `keepLength`: for
 * a HEAD answer, whose Content-Length describes a body it did not carry.
 */
export function storedPairs(head: UpstreamHead, keepLength = false): string[] {
  const names = head.names;
  const values = head.values;
  const pairs: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < names.length; i++) {
    const n = names[i] as HeaderName;
    const value = values[i] as string;
    if (n.inline === INLINE.connection) connection = joinRepeated(connection, value);
    if (kept(n, keepLength)) pairs.push(n.lower, value);
  }
  const named = connectionNamed(connection);
  if (named !== undefined && named.length > 0) {
    // Rare: the upstream's Connection header names more headers that belong to one hop.
    for (let i = pairs.length - 2; i >= 0; i -= 2) if (named.includes(pairs[i] as string)) pairs.splice(i, 2);
  }
  return pairs;
}

/** Headers as a record from names and values alternating, a repeated header as the list of its values. */
export function headersFromPairs(pairs: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) addHeader(out, pairs[i] as string, pairs[i + 1] as string);
  return out;
}

/** The upstream headers worth storing, a repeated header as the list of its values (see storedPairs). */
export function storedHeaders(head: UpstreamHead, keepLength = false): Record<string, string | string[]> {
  return headersFromPairs(storedPairs(head, keepLength));
}

/** Separates names and values in a packed answer: a line feed is in no header name or value HTTP allows. */
const SEP = '\n';

/** Whether stored headers can be packed: no value holds the separator (names cannot). */
export function packable(pairs: readonly string[]): boolean {
  for (let i = 1; i < pairs.length; i += 2) if ((pairs[i] as string).includes(SEP)) return false;
  return true;
}

/**
 * Stored headers (packable ones) as one string, names and values alternating, SEP between: latin1,
 * as the upstream's head decodes them, so an L1 entry keeps them as bytes (l1-entry.ts).
 */
export function packHeaders(pairs: readonly string[]): string {
  return pairs.join(SEP);
}

/** The headers of packed names and values (packHeaders), as `storedHeaders` gives them. */
export function unpackHeaders(packed: string): Record<string, string | string[]> {
  return packed === '' ? {} : headersFromPairs(packed.split(SEP));
}

/**
 * A copy of `parts` in a buffer of its own. What the network gives (an upstream's chunks, a Redis
 * reply) is often a view of a much larger read buffer, or of a pooled slab, that a cached entry
 * must not keep alive: L1's byte bound counts what an entry holds.
 */
export function ownedCopy(parts: readonly Buffer[], size: number): Buffer {
  const out = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const p of parts) at += p.copy(out, at);
  return out;
}

/** Bytes an entry is counted as in L1: its body, its headers and a fixed overhead. */
export const ENTRY_OVERHEAD_BYTES = 256;

export function entrySize(r: CachedResponse): number {
  return ENTRY_OVERHEAD_BYTES + r.body.length + headerBytes(r.headers) + tagBytes(r.tags);
}

/** What tags count for in entrySize. */
export function tagBytes(tags: readonly string[]): number {
  let n = 0;
  for (const t of tags) n += t.length + 8;
  return n;
}

/** Header bytes as entrySize counts them: each name and value, a repeated value with its `, `. */
function headerBytes(headers: StoredHeaders): number {
  let n = 0;
  for (const name in headers) {
    const v = headers[name];
    n += name.length + (typeof v === 'string' ? v.length : (v?.reduce((a, s) => a + s.length + 2, 0) ?? 0));
  }
  return n;
}

interface Meta {
  s: number;
  h: Record<string, string | string[]>;
  t: number;
  f: number;
  g: string[];
}

export function encodeMeta(r: CachedResponse): string {
  const meta: Meta = { s: r.status, h: r.headers as Record<string, string | string[]>, t: r.storedAt, f: r.freshUntil, g: [...r.tags] };
  return JSON.stringify(meta);
}

const isString = (v: unknown): v is string => typeof v === 'string';

/** The entry from its stored metadata and body; undefined when the metadata is not what we write. */
export function decodeMeta(meta: Buffer | string, body: Buffer): CachedResponse | undefined {
  let value: unknown;
  try {
    value = JSON.parse(typeof meta === 'string' ? meta : meta.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Partial<Record<keyof Meta, unknown>>;
  if (!Number.isInteger(m.s) || typeof m.t !== 'number' || typeof m.f !== 'number') return undefined;
  if (!Array.isArray(m.g) || !m.g.every(isString)) return undefined;
  if (typeof m.h !== 'object' || m.h === null || Array.isArray(m.h)) return undefined;
  const headers: Record<string, string | string[]> = {};
  for (const [name, v] of Object.entries(m.h as Record<string, unknown>)) {
    if (isString(v)) headers[name] = v;
    else if (Array.isArray(v) && v.every(isString)) headers[name] = v;
    else return undefined;
  }
  const status = m.s as number;
  if (status < 200 || status > 599) return undefined;
  return { status, headers, body, storedAt: m.t, freshUntil: m.f, tags: m.g };
}
