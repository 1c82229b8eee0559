/**
 * Header names as an upstream sends them, decoded once: a backend answers with the same dozen
 * names on every response, and comparing a name's few bytes with one seen before costs a fraction
 * of making a new string of them (a call into C++ and an allocation per name). What is handed back
 * is then the same every time: the name as spelled, in lower case, and whether it is hop-by-hop —
 * so neither the client's head nor a lookup by name lower-cases it again — and it decodes the
 * name's values (see HeaderName.value).
 *
 * Names come from upstreams, so the table is bounded, in all and per length (so that a lookup
 * compares a few names at most): once full it takes no more, and a name it does not hold is
 * decoded as before. A name is found only when every byte matches.
 */

import { HOP_BY_HOP_HEADERS } from '@jarvis/api';

/**
 * Header names in lower case: the names asked for by `UpstreamHead.header` (from code and config)
 * and an upstream's names are a handful, and looking one up costs a fraction of lower-casing it.
 * One string per lower-case name, whoever asked: two names equal but for case then compare as the
 * same string. Bounded: past the bound a name is lower-cased each time.
 */
const lowered = new Map<string, string>();
const MAX_LOWERED = 512;

/** `name` in lower case: the table's string for it when it has one. */
export function lowerName(name: string): string {
  let lower = lowered.get(name);
  if (lower !== undefined) return lower;
  const fresh = name.toLowerCase();
  lower = lowered.get(fresh) ?? fresh;
  if (lowered.size + 2 <= MAX_LOWERED) {
    lowered.set(lower, lower);
    lowered.set(name, lower);
  }
  return lower;
}

/**
 * Names a stage looks for in nearly every upstream head it reads, numbered (Envoy's "inline
 * headers" are the model): a pass over a head tells them apart by comparing small integers, not
 * strings. Every other name is 0 (`HeaderName.inline`).
 */
export const INLINE = Object.freeze({
  connection: 1,
  'content-length': 2,
  'cache-control': 3,
  'set-cookie': 4,
  vary: 5,
  age: 6,
} as const);
const INLINE_BY_NAME: ReadonlyMap<string, number> = new Map(Object.entries(INLINE));

/** Values longer than this are decoded each time; shorter ones are compared with the last one first. */
const MAX_VALUE_BYTES = 64;

/**
 * A header name as an upstream spelled it, in lower case, and whether it belongs to one hop only;
 * made once per name the table keeps (and each time for a name it does not keep).
 *
 * It also remembers the last value it decoded (up to MAX_VALUE_BYTES): most of a backend's values
 * repeat from one response to the next (content type, server, keep-alive, the date within its
 * second), and comparing a few bytes costs a fraction of decoding them into a new string.
 */
export class HeaderName {
  readonly lower: string;
  readonly hop: boolean;
  /** Its number in INLINE, 0 when it has none. */
  readonly inline: number;
  /** The last value's bytes (its first `#length`) and string; `#length` −1: none yet. */
  #bytes: Buffer | undefined;
  #length = -1;
  #value = '';

  /** Whether the table keeps this name (one it does not keep is made anew each time, and keeps no value). */
  readonly #keepsValues: boolean;

  constructor(
    readonly name: string,
    keepsValues: boolean,
  ) {
    this.#keepsValues = keepsValues;
    this.lower = lowerName(name);
    this.hop = HOP_BY_HOP_HEADERS.has(this.lower);
    this.inline = INLINE_BY_NAME.get(this.lower) ?? 0;
  }

  /** A value of this header as a latin1 string: the last one again when its bytes are the same. */
  value(raw: Buffer): string {
    const n = raw.length;
    if (n > MAX_VALUE_BYTES || !this.#keepsValues) return raw.toString('latin1');
    let bytes = this.#bytes;
    if (n === this.#length && sameBytes(bytes as Buffer, raw, n)) return this.#value;
    const value = raw.toString('latin1');
    bytes ??= this.#bytes = Buffer.alloc(MAX_VALUE_BYTES);
    // A copy: `raw` is a view into the socket's read buffer, which is reused.
    for (let i = 0; i < n; i++) bytes[i] = raw[i] as number;
    this.#length = n;
    this.#value = value;
    return value;
  }
}

/** Names longer than this are decoded each time (long names are rare and cost more to compare). */
const MAX_NAME_BYTES = 48;
/** At most this many names are kept, and this many of one length (a lookup compares at most that many). */
const MAX_NAMES = 256;
const MAX_PER_LENGTH = 8;

interface Known {
  /** A copy of the bytes (a Buffer like the parts compared with it: one element kind to load). */
  readonly bytes: Buffer;
  readonly name: HeaderName;
}

function sameBytes(a: Buffer, b: Buffer, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class HeaderNames {
  /** By length: the names of that many bytes. */
  readonly #byLength: Known[][] = Array.from({ length: MAX_NAME_BYTES + 1 }, () => []);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The name in `raw` (latin1): the kept record when its bytes were seen before. */
  decode(raw: Buffer): HeaderName {
    const n = raw.length;
    if (n > MAX_NAME_BYTES) return new HeaderName(raw.toString('latin1'), false);
    const list = this.#byLength[n] as Known[];
    for (let j = 0; j < list.length; j++) {
      const k = list[j] as Known;
      if (sameBytes(k.bytes, raw, n)) return k.name;
    }
    const kept = this.#size < MAX_NAMES && list.length < MAX_PER_LENGTH;
    const name = new HeaderName(raw.toString('latin1'), kept);
    if (kept) {
      // A copy: `raw` is a view into the socket's read buffer, which is reused.
      list.push({ bytes: Buffer.from(raw), name });
      this.#size++;
    }
    return name;
  }
}

/** The process's table: header names are few and shared by every upstream. */
export const upstreamNames = new HeaderNames();
