/**
 * The admin API's invalidation request (`POST /admin/cache/invalidate`), read from its JSON body
 * at the edge: every field checked and bounded, and a clear message when something is wrong.
 *
 *     { "policy": "<ns>/<name>",        optional: every CachePolicy of the config when absent
 *       "tags": ["doc:42", …],          entries whose response carried one of these tags
 *       "keys": ["<43-char key>", …],   entries by key (their ids, key.ts: the x-jarvis-cache-key
 *                                       response header of a request sent with x-jarvis-cache-debug: key)
 *       "all": true }                   every entry of the policy (its version)
 */
import { MAX_NAMES } from './bus.js';
import { isTag } from './cacheable.js';
import type { InvalidateRequest } from './registry.js';

/** A cache key's id: 43 base64url characters (SHA-256, key.ts). */
const KEY = /^[A-Za-z0-9_-]{43}$/;
const POLICY = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function stringList(v: unknown, name: string, valid: (s: string) => boolean, what: string): string[] | string {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return `${name} must be a list of strings`;
  if (v.length > MAX_NAMES) return `${name}: at most ${MAX_NAMES}`;
  for (const [i, s] of v.entries()) {
    if (typeof s !== 'string' || !valid(s)) return `${name}[${i}]: ${what}`;
  }
  return [...new Set(v as string[])];
}

/** The request, or a message saying what is wrong with it. */
export function parseInvalidateRequest(body: unknown): InvalidateRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object';
  const b = body as Record<string, unknown>;
  for (const name of Object.keys(b)) if (!['policy', 'tags', 'keys', 'all'].includes(name)) return `unknown field ${name}`;
  const { policy, all } = b;
  if (policy !== undefined && (typeof policy !== 'string' || !POLICY.test(policy))) return 'policy must be <namespace>/<name>';
  if (all !== undefined && typeof all !== 'boolean') return 'all must be true or false';
  const tags = stringList(b['tags'], 'tags', isTag, 'a tag is 1-128 letters, digits and ._:/=@+- starting with a letter or digit');
  if (typeof tags === 'string') return tags;
  const keys = stringList(b['keys'], 'keys', (s) => KEY.test(s), 'a key is 43 base64url characters');
  if (typeof keys === 'string') return keys;
  if (tags.length + keys.length > MAX_NAMES) return `at most ${MAX_NAMES} tags and keys together`;
  if (tags.length === 0 && keys.length === 0 && all !== true) return 'nothing to invalidate: give tags, keys or all: true';
  return { ...(policy !== undefined ? { policy } : {}), tags, keys, all: all === true };
}
