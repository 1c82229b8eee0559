/**
 * IP addresses for identity: strict parsing (no octal, no shorthand IPv4, no garbage), canonical
 * text (RFC 5952 for IPv6), CIDR sets, and the key a client is counted under (IPv6 by prefix).
 * IPv4-mapped IPv6 (`::ffff:192.0.2.1`) always becomes plain IPv4, so one client has one key
 * whichever socket family it arrived on.
 */

/** A parsed address: IPv4 as an unsigned 32-bit number, IPv6 as eight 16-bit words. */
export type Ip = { readonly v: 4; readonly n: number } | { readonly v: 6; readonly w: Uint16Array };

/** Parses a bare address (no brackets, no port); an IPv6 zone (`%eth0`) is dropped. */
export function parseIp(text: string): Ip | undefined {
  if (text.length === 0 || text.length > 64) return undefined;
  if (text.indexOf(':') < 0) {
    const n = parseV4(text, 0, text.length);
    return n < 0 ? undefined : { v: 4, n };
  }
  const w = parseV6(text);
  if (!w) return undefined;
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return { v: 4, n: (w[6]! * 0x10000 + w[7]!) >>> 0 };
  }
  return { v: 6, w };
}

/** Dotted-quad IPv4 in text[start, end): returns the address, or -1 when it is not one. */
function parseV4(text: string, start: number, end: number): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + part;
      dots++;
      part = 0;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57) return -1;
    if (digits > 0 && part === 0) return -1; // a leading zero would read as octal elsewhere
    part = part * 10 + (c - 48);
    digits++;
    if (part > 255) return -1;
  }
  if (digits === 0 || dots !== 3) return -1;
  return n * 256 + part;
}

function parseV6(input: string): Uint16Array | undefined {
  const zone = input.indexOf('%');
  const text = zone >= 0 ? input.slice(0, zone) : input;
  const gap = text.indexOf('::');
  if (gap >= 0 && text.indexOf('::', gap + 1) >= 0) return undefined;
  const head = gap >= 0 ? text.slice(0, gap) : text;
  const tail = gap >= 0 ? text.slice(gap + 2) : '';
  const words: number[] = [];
  const tailWords: number[] = [];
  if (!parseGroups(head, words, gap < 0)) return undefined;
  if (gap >= 0 && !parseGroups(tail, tailWords, true)) return undefined;
  const total = words.length + tailWords.length;
  if (gap >= 0 ? total > 7 : total !== 8) return undefined;
  const out = new Uint16Array(8);
  for (let i = 0; i < words.length; i++) out[i] = words[i]!;
  for (let i = 0; i < tailWords.length; i++) out[8 - tailWords.length + i] = tailWords[i]!;
  return out;
}

/** Colon-separated hex groups; the last may be dotted IPv4 when `last` is the end of the address. */
function parseGroups(text: string, into: number[], last: boolean): boolean {
  if (text.length === 0) return true;
  let start = 0;
  for (;;) {
    const colon = text.indexOf(':', start);
    const end = colon < 0 ? text.length : colon;
    if (colon < 0 && last && text.indexOf('.', start) >= 0) {
      const n = parseV4(text, start, end);
      if (n < 0) return false;
      into.push(n >>> 16, n & 0xffff);
      return true;
    }
    const len = end - start;
    if (len === 0 || len > 4) return false;
    let word = 0;
    for (let i = start; i < end; i++) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) return false;
      word = word * 16 + h;
    }
    into.push(word);
    if (colon < 0) return true;
    start = colon + 1;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

export function formatV4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** RFC 5952: lowercase, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
export function formatV6(w: Uint16Array): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':';
    out += w[i]!.toString(16);
  }
  return out;
}

export function formatIp(ip: Ip): string {
  return ip.v === 4 ? formatV4(ip.n) : formatV6(ip.w);
}

/**
 * The text a client is counted under: IPv4 as is, IPv6 reduced to its first `v6Prefix` bits
 * (`2001:db8:1:2::/64`), because one subscriber usually holds a whole /64.
 */
export function clientKey(ip: Ip, v6Prefix: number): string {
  if (ip.v === 4) return formatV4(ip.n);
  if (v6Prefix >= 128) return formatV6(ip.w);
  const masked = new Uint16Array(8);
  maskWords(ip.w, v6Prefix, masked);
  return `${formatV6(masked)}/${v6Prefix}`;
}

function maskWords(src: Uint16Array, bits: number, out: Uint16Array): void {
  for (let i = 0; i < 8; i++) {
    const keep = bits - i * 16;
    out[i] = keep >= 16 ? src[i]! : keep <= 0 ? 0 : src[i]! & ((0xffff << (16 - keep)) & 0xffff);
  }
}

/** One network: `10.0.0.0/8`, `2001:db8::/32`, or a single address (`/32`, `/128` implied). */
export type Cidr =
  { readonly v: 4; readonly bits: number; readonly net: number } | { readonly v: 6; readonly bits: number; readonly net: Uint16Array };

/** Parses a CIDR; host bits are cleared. An IPv4-mapped IPv6 network of ≥ /96 becomes IPv4. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  if (addr.indexOf('%') >= 0) return undefined;
  const bitsText = slash < 0 ? undefined : text.slice(slash + 1);
  if (bitsText !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return undefined;
  const mapped = addr.indexOf(':') >= 0;
  const ip = parseIp(addr);
  if (!ip) return undefined;
  if (ip.v === 4) {
    let bits = bitsText === undefined ? 32 : Number(bitsText);
    if (mapped && bitsText !== undefined) {
      if (bits < 96 || bits > 128) return undefined;
      bits -= 96;
    }
    if (bits > 32) return undefined;
    return { v: 4, bits, net: (ip.n & v4Mask(bits)) >>> 0 };
  }
  const bits = bitsText === undefined ? 128 : Number(bitsText);
  if (bits > 128) return undefined;
  const net = new Uint16Array(8);
  maskWords(ip.w, bits, net);
  return { v: 6, bits, net };
}

function v4Mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** A fixed set of networks, checked by a linear scan (a trusted-proxy list is short). */
export class CidrSet {
  readonly #v4: { net: number; mask: number }[] = [];
  readonly #v6: { net: Uint16Array; bits: number }[] = [];

  constructor(cidrs: readonly Cidr[]) {
    for (const c of cidrs) {
      if (c.v === 4) this.#v4.push({ net: c.net, mask: v4Mask(c.bits) });
      else this.#v6.push({ net: c.net, bits: c.bits });
    }
  }

  get size(): number {
    return this.#v4.length + this.#v6.length;
  }

  has(ip: Ip): boolean {
    if (ip.v === 4) {
      for (const c of this.#v4) if ((ip.n & c.mask) >>> 0 === c.net) return true;
      return false;
    }
    for (const c of this.#v6) if (inV6(ip.w, c.net, c.bits)) return true;
    return false;
  }
}

function inV6(w: Uint16Array, net: Uint16Array, bits: number): boolean {
  for (let i = 0; i < 8; i++) {
    const keep = bits - i * 16;
    if (keep <= 0) return true;
    const mask = keep >= 16 ? 0xffff : (0xffff << (16 - keep)) & 0xffff;
    if ((w[i]! & mask) !== net[i]) return false;
  }
  return true;
}
