/**
 * The client behind trusted proxies. Only the direct peer is known for sure; a header it sends is
 * believed only when the peer is a trusted proxy, and then only as far as trusted hops vouch for
 * it: the chain is walked from the right (the entry the nearest proxy appended), trusted hops are
 * skipped, and the first untrusted address is the client. Anything a client wrote itself lies to
 * the left of that address and is never read.
 *
 * Which header is read is configuration, never both: a proxy that appends to X-Forwarded-For but
 * passes a client's own `Forwarded` through untouched would otherwise let the client choose its
 * address.
 */
import { type CidrSet, type Ip, parseIp } from './ip.js';

export type ForwardedHeaderName = 'x-forwarded-for' | 'forwarded';

/**
 * Walks `header` (the value of `kind`, already known to come from the trusted peer `peer`).
 * An entry that is not an address (garbage, `unknown`, an RFC 7239 obfuscated identifier, an
 * element without `for=`) ends the walk: the client is then the last hop that could be vouched
 * for — a trusted proxy, so such clients share one key and nobody gains a fresh one.
 * At most `maxHops` entries are read.
 */
export function clientBehindProxies(
  peer: Ip,
  header: string | undefined,
  kind: ForwardedHeaderName,
  trusted: CidrSet,
  maxHops: number,
): Ip {
  if (header === undefined) return peer;
  let current = peer;
  let end = header.length;
  for (let hops = 0; hops < maxHops; hops++) {
    const comma = end === 0 ? -1 : header.lastIndexOf(',', end - 1);
    const entry = header.slice(comma + 1, end);
    end = comma;
    const ip = kind === 'forwarded' ? parseForwardedElement(entry) : parseNode(trimOws(entry));
    if (!ip) return current;
    if (!trusted.has(ip)) return ip;
    current = ip;
    if (comma < 0) break;
  }
  return current;
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * One node of either header: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]`,
 * `[2001:db8::1]:4711`. Returns undefined for anything else.
 */
export function parseNode(node: string): Ip | undefined {
  if (node.length === 0 || node.length > 64) return undefined;
  if (node.charCodeAt(0) === 91 /* [ */) {
    const close = node.indexOf(']');
    if (close < 0) return undefined;
    if (close !== node.length - 1 && !isPort(node, close + 1)) return undefined;
    const ip = parseIp(node.slice(1, close));
    return ip;
  }
  const colon = node.indexOf(':');
  if (colon >= 0 && node.indexOf(':', colon + 1) < 0) {
    // IPv4 with a port; a single colon is never IPv6
    if (!isPort(node, colon)) return undefined;
    const ip = parseIp(node.slice(0, colon));
    return ip?.v === 4 ? ip : undefined;
  }
  return parseIp(node);
}

/** `:` followed by 1–5 digits up to the end. */
function isPort(s: string, colon: number): boolean {
  if (s.charCodeAt(colon) !== 58) return false;
  const len = s.length - colon - 1;
  if (len < 1 || len > 5) return false;
  for (let i = colon + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** One RFC 7239 forwarded-element (`for=192.0.2.60;proto=http;by=203.0.113.43`): its `for` node. */
export function parseForwardedElement(element: string): Ip | undefined {
  let found: string | undefined;
  let start = 0;
  while (start <= element.length) {
    const semi = element.indexOf(';', start);
    const end = semi < 0 ? element.length : semi;
    const pair = trimOws(element.slice(start, end));
    const eq = pair.indexOf('=');
    if (eq === 3 && pair.slice(0, 3).toLowerCase() === 'for') {
      if (found !== undefined) return undefined; // two `for` in one element: not to be believed
      found = pair.slice(4);
    }
    if (semi < 0) break;
    start = semi + 1;
  }
  if (found === undefined) return undefined;
  if (found.length >= 2 && found.charCodeAt(0) === 34 && found.charCodeAt(found.length - 1) === 34) {
    found = found.slice(1, -1);
    if (found.indexOf('\\') >= 0 || found.indexOf('"') >= 0) return undefined;
  }
  return parseNode(found);
}
