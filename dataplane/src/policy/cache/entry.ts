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
function storedPairs(head: UpstreamHead, keepLength: boolean): string[] {
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

/** The upstream headers worth storing, a repeated header as the list of its values (see storedPairs). */
export function storedHeaders(head: UpstreamHead, keepLength = false): Record<string, string | string[]> {
  const pairs = storedPairs(head, keepLength);
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) addHeader(out, pairs[i] as string, pairs[i + 1] as string);
  return out;
}

/** Separates names and values in a packed head: a line feed is in no header name or value HTTP allows. */
const SEP = '\n';

/**
 * The headers worth storing (as `storedHeaders` chooses them) packed into one string, names and
 * values alternating, or undefined when a value holds the separator (then they are stored as
 * `storedHeaders` makes them). One string is what an L1 entry keeps instead of an object and a
 * string per name and value: entries live long, and the collector copies each of their objects.
 */
export function packedHeaders(head: UpstreamHead, keepLength = false): string | undefined {
  const pairs = storedPairs(head, keepLength);
  for (let i = 1; i < pairs.length; i += 2) if ((pairs[i] as string).includes(SEP)) return undefined;
  return pairs.join(SEP);
}

/** The headers of a packed string (packedHeaders), as `storedHeaders` gives them. */
function unpackHeaders(packed: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (packed === '') return out;
  const parts = packed.split(SEP);
  for (let i = 0; i + 1 < parts.length; i += 2) addHeader(out, parts[i] as string, parts[i + 1] as string);
  return out;
}

/** Bodies up to this size are kept as a string in a PackedResponse (see ownedBody). */
export const SMALL_BODY_BYTES = 1024;

/**
 * A body of its own from what the network gave (see ownedCopy): a small one as a latin1 string —
 * one object for the collector to copy, where a buffer of its own is a view, an ArrayBuffer and
 * memory outside the heap to free — a larger one as a buffer.
 */
export function ownedBody(parts: readonly Buffer[], size: number): Buffer | string {
  if (size > SMALL_BODY_BYTES) return ownedCopy(parts, size);
  if (parts.length === 1) return (parts[0] as Buffer).toString('latin1');
  return Buffer.concat(parts, size).toString('latin1');
}

/**
 * A cached answer as L1 keeps it from a miss: its headers packed in one string (packedHeaders)
 * and a small body as a string (ownedBody), until something reads them — a hit, or the Redis
 * level's copy — which then keeps the object and the buffer they make.
 */
export class PackedResponse implements CachedResponse {
  #packed: string;
  #headers: StoredHeaders | undefined = undefined;
  #body: Buffer | string;
  /** What the headers count for in L1 (see entrySize): the packed string's length. */
  readonly headerBytes: number;
  /** The body's length in bytes. */
  readonly bodyBytes: number;
  /** freshUntil as ms after storedAt: a small integer kept in the object, not a heap number of its own (see L1Entry). */
  readonly #freshFor: number;

  constructor(
    readonly status: number,
    packed: string,
    body: Buffer | string,
    readonly storedAt: number,
    freshUntil: number,
    readonly tags: readonly string[],
  ) {
    this.#freshFor = freshUntil - storedAt;
    this.#packed = packed;
    this.headerBytes = packed.length;
    this.#body = body;
    this.bodyBytes = body.length;
  }

  /** Wall-clock ms until which this copy is fresh. */
  get freshUntil(): number {
    return this.storedAt + this.#freshFor;
  }

  get headers(): StoredHeaders {
    if (this.#headers === undefined) {
      this.#headers = unpackHeaders(this.#packed);
      this.#packed = '';
    }
    return this.#headers;
  }

  get body(): Buffer {
    const body = this.#body;
    if (typeof body !== 'string') return body;
    // A buffer of its own (Buffer.from would cut a small one from a shared pool slab).
    const bytes = Buffer.allocUnsafeSlow(body.length);
    bytes.write(body, 'latin1');
    this.#body = bytes;
    return bytes;
  }
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
  let n = ENTRY_OVERHEAD_BYTES + (r instanceof PackedResponse ? r.bodyBytes + r.headerBytes : r.body.length + headerBytes(r.headers));
  for (const t of r.tags) n += t.length + 8;
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
