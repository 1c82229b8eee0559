/**
 * Headers across the proxy: hop-by-hop headers stay on their hop (RFC 9110 §7.6.1, including the
 * names a Connection header lists), the client is appended to X-Forwarded-For, and the verified
 * identity travels in x-tenant-id / x-user-id — whatever a client sent in those is dropped.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import { FORWARDING_HEADERS as FORWARDING, HOP_BY_HOP_HEADERS as HOP_BY_HOP } from '@jarvis/api';
import { type HeaderName, INLINE, lowerName, upstreamNames } from './names.js';

/** The names a Connection header lists: hop-by-hop too (RFC 9110 §7.6.1). */
export function connectionNamed(connection: string | string[] | undefined): string[] | undefined {
  // Nearly every request says just keep-alive, itself hop-by-hop already: nothing more to drop.
  if (connection === undefined || connection === 'keep-alive') return undefined;
  return String(connection)
    .toLowerCase()
    .split(',')
    .map((s) => s.trim());
}

/** The verified identity, as the upstream sees it. */
export const TENANT_HEADER = 'x-tenant-id';
export const USER_HEADER = 'x-user-id';

/** Copies the end-to-end headers: not hop-by-hop, not named by Connection, not in `skip`. */
function endToEnd(headers: IncomingHttpHeaders, out: OutgoingHttpHeaders, skip?: ReadonlySet<string>): void {
  const named = connectionNamed(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.includes(name) || skip?.has(name)) continue;
    out[name] = value;
  }
}

/** The request's deadline as Unix time in ms, set by the queue stage (QueuePolicy): a client's own is dropped. */
export const DEADLINE_HEADER = 'x-jarvis-deadline';

/**
 * The default header of a DegradationPolicy's feature toggles: a client's own is dropped (on a
 * route with toggles the gateway sets it, under whatever name the policy chose).
 */
export const FEATURES_HEADER = 'x-jarvis-features';

/**
 * What a client may not tell the upstream. Always dropped: the identity headers (ours and the
 * configured trusted ones — identity comes from the identify stage only) and `Expect` (the gateway
 * answers 100-continue itself and sends the body it has). From a peer that is not a trusted proxy,
 * also every forwarding header: they would be forged.
 */
export interface HeaderPolicy {
  /** Dropped from a trusted proxy's requests. */
  readonly trusted: ReadonlySet<string>;
  /** Dropped from everyone else's. */
  readonly untrusted: ReadonlySet<string>;
}

/** The header policy for a gateway whose identify stage reads `identityHeaders` (Identifier.identityHeaders). */
export function headerPolicy(identityHeaders: readonly string[]): HeaderPolicy {
  const always = [TENANT_HEADER, USER_HEADER, DEADLINE_HEADER, FEATURES_HEADER, 'expect', ...identityHeaders.map((h) => h.toLowerCase())];
  // From a trusted proxy the forwarding chain stays (it is extended below); its identity headers do not.
  const trusted = new Set(always.filter((h) => !FORWARDING.includes(h)));
  return { trusted, untrusted: new Set([...always, ...FORWARDING]) };
}

/** Who is asking, as far as the forwarding headers go. */
export interface Forwarding {
  /** The direct peer's address ('' when unknown). */
  readonly peer: string;
  readonly peerTrusted: boolean;
  /** The verified tenant and user, passed as x-tenant-id / x-user-id. */
  readonly tenant: string | undefined;
  readonly user: string | undefined;
}

/** A `for=` node of RFC 7239: IPv6 quoted and bracketed. */
function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/**
 * Request headers for the upstream: hop-by-hop removed (including those named by Connection), what
 * the header policy drops, the direct peer appended to the forwarding chain (RFC 7239 and common
 * X-Forwarded-For practice: a trusted proxy's chain is kept and extended; anyone else starts a new
 * one), and the verified tenant and user in x-tenant-id and x-user-id.
 */
export function upstreamHeaders(headers: IncomingHttpHeaders, f: Forwarding, policy: HeaderPolicy): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  endToEnd(headers, out, f.peerTrusted ? policy.trusted : policy.untrusted);
  if (f.peer !== '') {
    const xff = f.peerTrusted ? headers['x-forwarded-for'] : undefined;
    out['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${f.peer}` : f.peer;
    const fwd = f.peerTrusted ? headers.forwarded : undefined;
    if (fwd) out['forwarded'] = `${fwd}, for=${forwardedNode(f.peer)}`;
  }
  if (f.tenant !== undefined) out[TENANT_HEADER] = f.tenant;
  if (f.user !== undefined) out[USER_HEADER] = f.user;
  return out;
}

// ---- an upstream's head as undici receives it: names and values alternating, as bytes ----------

/** Stores `value` under `name`, a repeated name as the list of its values; `__proto__` as a plain property. */
export function addHeader(out: Record<string, string | string[]>, name: string, value: string): void {
  const had = Object.hasOwn(out, name) ? out[name] : undefined;
  if (had === undefined) {
    if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, configurable: true, writable: true });
    else out[name] = value;
  } else if (typeof had === 'string') out[name] = [had, value];
  else had.push(value);
}

/** A header's value so far (undefined: none yet) with one more line of it: repeated lines join with `, `. */
export function joinRepeated(had: string | undefined, value: string): string {
  return had === undefined ? value : `${had}, ${value}`;
}

/**
 * An upstream's head as undici receives it (names and values alternating, as bytes), read without
 * parsing all of it: a proxy passes most heads through untouched.
 */
export class UpstreamHead {
  /** One per header, decoded once when first asked for (names through the table of names.ts). */
  #names: HeaderName[] | undefined;
  #values: string[] | undefined;
  #parsed: IncomingHttpHeaders | undefined;
  constructor(readonly raw: readonly Buffer[]) {}

  /** A head from headers by name (a list: the header repeated; undefined: left out). */
  static of(headers: Readonly<Record<string, string | readonly string[] | undefined>>): UpstreamHead {
    const raw: Buffer[] = [];
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      for (const v of typeof value === 'string' ? [value] : value) raw.push(Buffer.from(name, 'latin1'), Buffer.from(v, 'latin1'));
    }
    return new UpstreamHead(raw);
  }

  /**
   * Decodes the raw head: each name through the table of names seen before, each value through
   * its name, which keeps the last one (names.ts). (Decoding the span of one socket read at once
   * and cutting it into substrings needs each part's `buffer` and `byteOffset`: accessors that the
   * parts undici hands over reach only through a generic property load, which cost the gateway
   * several times more than the decodes.)
   */
  #decode(): void {
    const raw = this.raw;
    const count = raw.length >> 1;
    const names = new Array<HeaderName>(count);
    const values = new Array<string>(count);
    for (let i = 0; i < count; i++) {
      const name = upstreamNames.decode(raw[2 * i] as Buffer);
      names[i] = name;
      values[i] = name.value(raw[2 * i + 1] as Buffer);
    }
    this.#names = names;
    this.#values = values;
  }

  /** The head's names, one per header (as spelled, in lower case, hop-by-hop or not). */
  get names(): readonly HeaderName[] {
    if (this.#names === undefined) this.#decode();
    return this.#names as HeaderName[];
  }

  /** The head's values, one per header (index i: the value of `names[i]`). */
  get values(): readonly string[] {
    if (this.#values === undefined) this.#decode();
    return this.#values as string[];
  }

  /** A header's value by its name, in any case (repeated ones joined with `, `); undefined when absent. */
  header(name: string): string | undefined {
    const names = this.names;
    const values = this.values;
    const wanted = lowerName(name);
    let value: string | undefined;
    for (let i = 0; i < names.length; i++) {
      // A name the table keeps and a name asked for share one lower-case string (lowerName).
      if ((names[i] as HeaderName).lower !== wanted) continue;
      value = joinRepeated(value, values[i] as string);
    }
    return value;
  }

  /** Every header: lower-case names, repeated ones as lists (parsed once, when first asked for). */
  get headers(): IncomingHttpHeaders {
    return (this.#parsed ??= this.parse());
  }

  /**
   * The headers as node:http's IncomingHttpHeaders: lower-case names, a repeated header as the
   * list of its values (as undici's own parsing gives them), names that `skip` says left out.
   */
  parse(skip?: (name: string) => boolean): Record<string, string | string[]> {
    const names = this.names;
    const values = this.values;
    const out: Record<string, string | string[]> = {};
    for (let i = 0; i < names.length; i++) {
      const name = (names[i] as HeaderName).lower;
      if (skip?.(name)) continue;
      addHeader(out, name, values[i] as string);
    }
    return out;
  }
}

/**
 * The client's head from an upstream's head, as the flat name/value list that
 * `ServerResponse.writeHead` takes: the upstream's end-to-end headers (hop-by-hop ones and those its
 * Connection header names dropped; repeated ones kept, each; names as the upstream spelled them),
 * except those `extra` replaces, then `extra` (the gateway's own).
 */
export function clientHead(head: UpstreamHead, extra: OutgoingHttpHeaders | undefined): OutgoingHttpHeader[] {
  const names = head.names;
  const values = head.values;
  const out: OutgoingHttpHeader[] = [];
  // The gateway's own names in lower case, looked up once per response, not once per upstream header.
  let replaced: string[] | undefined;
  if (extra !== undefined) for (const name in extra) (replaced ??= []).push(lowerName(name));
  let connection: string | undefined;
  for (let i = 0; i < names.length; i++) {
    const n = names[i] as HeaderName;
    if (n.hop) {
      // Every Connection line counts (as one list): each may name more headers of this hop.
      if (n.inline === INLINE.connection) connection = joinRepeated(connection, values[i] as string);
      continue;
    }
    if (replaced !== undefined && replaced.includes(n.lower)) continue;
    out.push(n.name, values[i] as string);
  }
  const named = connectionNamed(connection);
  if (named !== undefined && named.length > 0) {
    // Rare: the upstream named more hop-by-hop headers in its Connection header.
    for (let i = out.length - 2; i >= 0; i -= 2) if (named.includes(String(out[i]).toLowerCase())) out.splice(i, 2);
  }
  if (extra !== undefined)
    for (const name in extra) {
      const value = extra[name];
      if (value !== undefined) out.push(name, value);
    }
  return out;
}
