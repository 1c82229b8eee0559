/**
 * The body part of a cache key. A JSON body is hashed in a canonical form, so that two requests
 * that say the same thing share an entry however their fields are ordered or spaced: object
 * members sorted by name (UTF-16 code units, like `Array.prototype.sort`), no whitespace, strings
 * and numbers printed the way `JSON.stringify` prints them (`1.0`, `1e0` and `1` are one number;
 * `"\u0041"` and `"A"` one string). Duplicate member names keep the last value, as `JSON.parse`
 * does. A body that is not JSON, or nests deeper than MAX_DEPTH, is hashed as raw bytes — under
 * its own prefix, so the two forms never meet.
 */
import { createHash } from 'node:crypto';

/** Deeper JSON is hashed as raw bytes (bounded recursion). */
export const MAX_DEPTH = 256;

class TooDeep extends Error {}

function write(value: unknown, depth: number): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (depth >= MAX_DEPTH) throw new TooDeep();
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + write(value[i], depth + 1);
    return out + ']';
  }
  const record = value as Record<string, unknown>;
  const names = Object.keys(record).sort();
  let out = '{';
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    out += (i > 0 ? ',' : '') + JSON.stringify(name) + ':' + write(record[name], depth + 1);
  }
  return out + '}';
}

/** The canonical text of a parsed JSON value; undefined when it nests deeper than MAX_DEPTH. */
export function canonicalJson(value: unknown): string | undefined {
  try {
    return write(value, 0);
  } catch (err) {
    if (err instanceof TooDeep) return undefined;
    throw err;
  }
}

/**
 * `j:` and the SHA-256 (base64url) of the canonical form when `json` is the parsed body, else
 * `r:` and the SHA-256 of the raw bytes. `json` undefined means the body was not parsed as JSON.
 */
export function bodyDigest(body: Buffer, json: unknown): string {
  if (json !== undefined) {
    const text = canonicalJson(json);
    if (text !== undefined) return 'j:' + createHash('sha256').update(text, 'utf8').digest('base64url');
  }
  return 'r:' + createHash('sha256').update(body).digest('base64url');
}
