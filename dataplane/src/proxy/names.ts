/**
 * Header names as an upstream sends them, decoded once: a backend answers with the same dozen
 * names on every response, and comparing a name's few bytes with one seen before costs a fraction
 * of making a new string of them (a call into C++ and an allocation per name). The string handed
 * back is then the same one every time, its hash already computed for the lookups that follow.
 *
 * Names come from upstreams, so the table is bounded, in all and per length (so that a lookup
 * compares a few names at most): once full it takes no more, and a name it does not hold is
 * decoded as before. A name is found only when every byte matches.
 */

/** Names longer than this are decoded each time (long names are rare and cost more to compare). */
const MAX_NAME_BYTES = 48;
/** At most this many names are kept, and this many of one length (a lookup compares at most that many). */
const MAX_NAMES = 256;
const MAX_PER_LENGTH = 8;

interface Known {
  /** A copy of the bytes (a Buffer like the parts compared with it: one element kind to load). */
  readonly bytes: Buffer;
  readonly name: string;
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

  /** The name in `raw` as a latin1 string: the kept one when its bytes were seen before. */
  decode(raw: Buffer): string {
    const n = raw.length;
    if (n > MAX_NAME_BYTES) return raw.toString('latin1');
    const list = this.#byLength[n] as Known[];
    for (let j = 0; j < list.length; j++) {
      const k = list[j] as Known;
      if (sameBytes(k.bytes, raw, n)) return k.name;
    }
    const name = raw.toString('latin1');
    if (this.#size < MAX_NAMES && list.length < MAX_PER_LENGTH) {
      // A copy: `raw` is a view into the socket's read buffer, which is reused.
      list.push({ bytes: Buffer.from(raw), name });
      this.#size++;
    }
    return name;
  }
}

/** The process's table: header names are few and shared by every upstream. */
export const upstreamNames = new HeaderNames();
