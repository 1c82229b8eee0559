/**
 * What may be cached, and what a request lets the cache do. Pure functions of the policy and the
 * headers:
 *
 * - a request's `Cache-Control: no-cache` or `max-age=0` (or `Pragma: no-cache`) skips the lookup (the answer
 *   comes from upstream and is stored); `no-store` keeps its answer out of the cache;
 * - a response is stored when its status is one of the policy's, it is no larger than
 *   maxBodyBytes, it has no `Set-Cookie`, its `Vary` names only headers that are part of the key
 *   (never `*`), its tags are valid and no more than maxTagsPerEntry, and — with
 *   respectCacheControl — its `Cache-Control` says neither no-store, no-cache nor private.
 */
import type { CacheIR } from '@jarvis/api';

type HeaderValue = string | readonly string[] | undefined;

/** A response's headers by lower-case name (repeated ones joined with `, `): an UpstreamHead. */
export interface ResponseHeadersIn {
  header(name: string): string | undefined;
}

/** Longest tag; tags are ASCII letters, digits and `._:/=@+-`, starting with a letter or digit. */
export const MAX_TAG_LENGTH = 128;
const TAG = /^[A-Za-z0-9][A-Za-z0-9._:/=@+-]{0,127}$/;

/** Whether a string is a valid tag (see MAX_TAG_LENGTH). */
export function isTag(s: string): boolean {
  return TAG.test(s);
}

function joined(value: HeaderValue): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : value.join(',');
}

/** What a missing or empty header says (most answers and requests carry no Cache-Control). */
const NO_DIRECTIVES: ReadonlyMap<string, string> = new Map();

/** The directives of a Cache-Control value: lower-case name → argument ('' when none; quotes removed). */
export function directives(value: HeaderValue): ReadonlyMap<string, string> {
  const text = joined(value);
  if (text === '') return NO_DIRECTIVES;
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '') continue;
    const arg =
      eq < 0
        ? ''
        : part
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, '$1');
    out.set(name, arg);
  }
  return out;
}

/** What a request lets the cache do with it. */
export interface RequestRules {
  /** Look the answer up (false: the client asked for a fresh one). */
  readonly lookup: boolean;
  /** Store the answer (false: the client said no-store). */
  readonly store: boolean;
}

const ALL_RULES: RequestRules = Object.freeze({ lookup: true, store: true });

export function requestRules(respect: boolean, cacheControl: HeaderValue, pragma: HeaderValue): RequestRules {
  if (!respect || (cacheControl === undefined && pragma === undefined)) return ALL_RULES;
  const d = directives(cacheControl);
  const noCache = d.has('no-cache') || d.get('max-age') === '0' || (cacheControl === undefined && directives(pragma).has('no-cache'));
  return { lookup: !noCache, store: !d.has('no-store') };
}

/** Shared by every answer without tags (most of them: an entry holds one object fewer). */
const NO_TAGS: readonly string[] = Object.freeze([]);

/** The tags of a response (from the policy's tags header); undefined when they make it uncacheable. */
export function responseTags(value: HeaderValue, maxTags: number): readonly string[] | undefined {
  const text = joined(value);
  if (text === '') return NO_TAGS;
  const tags = new Set<string>();
  for (const part of text.split(',')) {
    const tag = part.trim();
    if (tag === '') continue;
    if (!TAG.test(tag)) return undefined;
    tags.add(tag);
    if (tags.size > maxTags) return undefined;
  }
  return [...tags];
}

/** Why a response is not stored, or undefined when it may be. */
export function uncacheableReason(ir: CacheIR, status: number, headers: ResponseHeadersIn): string | undefined {
  if (!ir.statuses.includes(status)) return 'status';
  const length = headers.header('content-length');
  if (length !== undefined && Number(length) > ir.maxBodyBytes) return 'size';
  if (headers.header('set-cookie') !== undefined) return 'set-cookie';
  const vary = headers.header('vary');
  if (vary !== undefined) {
    for (const name of directives(vary).keys()) if (name === '*' || !ir.key.headers.includes(name)) return 'vary';
  }
  if (ir.respectCacheControl) {
    const d = directives(headers.header('cache-control'));
    if (d.has('no-store') || d.has('no-cache') || d.has('private')) return 'cache-control';
  }
  return undefined;
}
