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
 *   algorithm from reading another's state, `<scope letter>` one letter per key part — I U T M R
 *   S H C Q P (client IP, user, tenant, model, route, service, header, claim, query parameter,
 *   path) — G for a level without key parts, X for a hot value.
 * - `<value>` is each key part's value, joined by a space (`acme gpt-4` for Tenant, Model): a
 *   value as it came, when it is short printable ASCII without space, `{`, `}` or `#`; otherwise
 *   `#` and 22 base64url characters of the SHA-256 of its UTF-16 code units (distinct strings,
 *   lone surrogates included, keep distinct keys; a raw value never starts with `#`, so it cannot
 *   pose as a hash, and no part contains a space, so parts cannot run into each other). A missing
 *   value counted as anonymous (onMissingKey Anonymous) is `#anonymous`, which neither form can
 *   be. A single part is at most ~100 bytes plus the counter id. A level keyed by a
 *   credential-like header or query parameter (x-api-key, authorization, ...: see
 *   ../credentials.ts) never puts the value in the key: its part is `#` and the credential's
 *   digest, whatever the value looks like. Keys of a single part are what they were before
 *   composite keys existed, so their counters carry on.
 */
import { createHash } from 'node:crypto';
import { credentialDigest, isCredentialName } from '../credentials.js';

/** Between the parts of a composite key: no part contains it. */
export const KEY_PART_SEPARATOR = ' ';
/** The part of a missing value counted as anonymous: neither a raw value nor a digest (`#` + 22). */
export const ANONYMOUS_PART = '#anonymous';

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

/** How a header's or query parameter's values become key parts: credentials (by name) only as digests. */
export function keyPartFor(name: string | undefined): (value: string) => string {
  return name !== undefined && isCredentialName(name) ? credentialKeyPart : keyPart;
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
