/**
 * Reading credential headers exactly once. node:http keeps only the first `Authorization` of a
 * request (and joins repeats of most other headers with ", "), so a second copy is only visible in
 * `rawHeaders`; a header that carries a credential must appear once, or the request is refused.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** How many times `name` (lowercase) occurs in a node:http `rawHeaders` list. */
export function countRaw(rawHeaders: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const h = rawHeaders[i]!;
    if (h.length === name.length && (h === name || h.toLowerCase() === name)) n++;
  }
  return n;
}

/**
 * The single value of a credential header, `undefined` when absent, or the number of copies
 * when there is more than one. `rawHeaders` settles what the parsed headers cannot show: a
 * dropped second `Authorization`, or a joined value that is really two headers.
 */
export function singleHeader(
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[] | undefined,
  name: string,
): string | undefined | number {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return value.length === 1 ? value[0] : value.length;
  if (rawHeaders) {
    const n = countRaw(rawHeaders, name);
    if (n > 1) return n;
  } else if (value.indexOf(',') >= 0 && name !== 'authorization') {
    return 2; // joined by node:http from repeated headers; a credential never holds a comma
  }
  return value;
}
