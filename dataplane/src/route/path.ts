/**
 * The request path as routes see it, and as the upstream gets it: percent-encoded unreserved
 * characters decoded (`%7E` → `~`, `%2e` → `.`; RFC 3986 §6.2.2.2), other percent-encodings kept
 * with upper-case hex (an encoded `/` stays `%2F`: it is not a segment separator), and dot-segments
 * removed (RFC 3986 §5.2.4) — so `/probe/../api/v1/chat` and `/probe/%2e%2e/api/v1/chat` are
 * `/api/v1/chat` for matching and for the upstream alike, and cannot slip past a route's policies.
 */

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3). */
function unreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e
  );
}

/** RFC 3986 §5.2.4 on an absolute path. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  // segments[0] is '' (the path starts with '/').
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else out.push(s);
  }
  return `/${out.join('/')}`;
}

/**
 * The normal form of an origin-form path (without the query), or undefined when it is not one
 * (does not start with `/`, or holds a broken percent-encoding): answered 400.
 */
export function normalizePath(path: string): string | undefined {
  if (path.charCodeAt(0) !== 0x2f) return undefined;
  let needsWork = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x25 || (c === 0x2e && path.charCodeAt(i - 1) === 0x2f)) {
      needsWork = true;
      break;
    }
  }
  if (!needsWork) return path; // the common case: nothing to decode, no dot-segment
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c !== 0x25) {
      decoded += path[i];
      continue;
    }
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    const byte = hi * 16 + lo;
    decoded += unreserved(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`;
    i += 2;
  }
  return removeDotSegments(decoded);
}
