/**
 * Counter keys. Layout (the store adds its own prefix, e.g. `jarvis:rl:`):
 *
 *     {<tag>}:<counter>:<algorithm code>:<scope letter>:<value>
 *
 * - `{<tag>}` is the Redis Cluster hash tag. The one Lua script touches every key of a batch of
 *   requests (the checks of one event-loop turn, from any route; redis-store.ts), so all of them
 *   must live in one slot: every key of a store carries the same tag. The default
 *   tag is one constant for the whole gateway, which keeps the IR's promise that routes
 *   inheriting a level share its counters (a Global or Tenant level attached to a Gateway is one
 *   counter, not one per route). The trade-off: on a Redis Cluster all limiter keys sit in one
 *   slot, i.e. on one primary. Spreading them (a tag per group of routes that share counters)
 *   would need one batch per tag in the store as well as the grouping at compile time; neither
 *   is built, and `hashTag` of compileRouteLimiter must stay one value per store.
 * - `<counter>` is the IR's counter id (`ns/policy/level`), `<algorithm code>` keeps a changed
 *   algorithm from reading another's state, `<scope letter>` one of G R S I U T H C X (hot).
 * - `<value>` is the scope value as it came, when it is short printable ASCII without `{`, `}`
 *   or `#`; otherwise `#` and 22 base64url characters of the SHA-256 of its UTF-16 code units
 *   (distinct strings, lone surrogates included, keep distinct keys; a raw value never starts
 *   with `#`, so it cannot pose as a hash). Keys are at most ~100 bytes plus the counter id.
 *   A level scoped by a credential-like header (x-api-key, authorization, ...: see
 *   ../credentials.ts) never puts the value in the key: `<value>` is `#` and the credential's
 *   digest, whatever the value looks like.
 */
import { createHash } from 'node:crypto';
import { credentialDigest, isCredentialName } from '../credentials.js';

/** Longest value kept as it is. */
export const MAX_RAW_VALUE = 64;

// Printable ASCII except space, '#', '{' and '}'.
const SAFE = /^[\x21\x22\x24-\x7a\x7c\x7e]+$/;

/** The bounded, injective form of a key part. */
export function keyPart(value: string): string {
  if (value.length > 0 && value.length <= MAX_RAW_VALUE && SAFE.test(value)) return value;
  return '#' + createHash('sha256').update(value, 'utf16le').digest('base64url').slice(0, 22);
}

/** The key part of a credential's value: its digest only. */
export function credentialKeyPart(value: string): string {
  return '#' + credentialDigest(value);
}

/** How a level's scope values become key parts: credentials (by header name) only as digests. */
export function keyPartFor(header: string | undefined): (value: string) => string {
  return header !== undefined && isCredentialName(header) ? credentialKeyPart : keyPart;
}

/** The gateway-wide default hash tag. */
export const DEFAULT_HASH_TAG = 'jrl';

/** Everything of a key but the value: computed once per level at config load. */
export function keyHead(hashTag: string, counter: string, alg: number, scopeLetter: string): string {
  return `{${keyPart(hashTag)}}:${keyPart(counter)}:${alg}:${scopeLetter}:`;
}

/**
 * In-memory counters need no readable key: a head (`{tag}:counter:alg:scope:`, ~30–60 bytes) is
 * replaced by a short id of its own, which takes a third or more off every key string the memory
 * store holds (1 M keys: tens of MB). Heads come from config; the table is bounded all the same,
 * and past the bound a head stays as it is (still distinct: compact heads start with `~`, full
 * ones with `{`).
 */
const compactHeads = new Map<string, string>();
const MAX_COMPACT_HEADS = 100_000;

export function compactHead(head: string): string {
  let short = compactHeads.get(head);
  if (short === undefined) {
    if (compactHeads.size >= MAX_COMPACT_HEADS) return head;
    short = `~${compactHeads.size.toString(36)}:`;
    compactHeads.set(head, short);
  }
  return short;
}
