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
import { joinRepeated } from '../../proxy/headers.js';
import { INLINE, type HeaderName } from '../../proxy/names.js';

type HeaderValue = string | readonly string[] | undefined;

/** An upstream's head as the cache reads it (an UpstreamHead): each header's decoded name and its value. */
export interface ResponseHeadIn {
  readonly names: readonly Pick<HeaderName, 'lower' | 'inline'>[];
  readonly values: readonly string[];
}

/** What the cache decides a response on: its headers that matter, repeated ones joined with `, `. */
export interface ResponseFacts {
  readonly contentLength: string | undefined;
  readonly setCookie: boolean;
  readonly vary: string | undefined;
  readonly cacheControl: string | undefined;
  /** The policy's tags header. */
  readonly tags: string | undefined;
}

/**
 * The facts of a response head, in one pass over its headers: the names the cache reads are
 * told apart by their INLINE number, the tags header (`tagsHeader`, lower case) by its name.
 */
export function responseFacts(head: ResponseHeadIn, tagsHeader: string): ResponseFacts {
  const names = head.names;
  const values = head.values;
  let contentLength: string | undefined;
  let setCookie = false;
  let vary: string | undefined;
  let cacheControl: string | undefined;
  let tags: string | undefined;
  for (let i = 0; i < names.length; i++) {
    const n = names[i] as Pick<HeaderName, 'lower' | 'inline'>;
    const value = values[i] as string;
    if (n.lower === tagsHeader) tags = joinRepeated(tags, value);
    switch (n.inline) {
      case INLINE['content-length']:
        contentLength = joinRepeated(contentLength, value);
        break;
      case INLINE['set-cookie']:
        setCookie = true;
        break;
      case INLINE.vary:
        vary = joinRepeated(vary, value);
        break;
      case INLINE['cache-control']:
        cacheControl = joinRepeated(cacheControl, value);
        break;
    }
  }
  return { contentLength, setCookie, vary, cacheControl, tags };
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

/** No tags: shared by every answer without tags (most of them: an entry holds one object fewer). */
export const NO_TAGS: readonly string[] = Object.freeze([]);

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
export function uncacheableReason(ir: CacheIR, status: number, facts: ResponseFacts): string | undefined {
  if (!ir.statuses.includes(status)) return 'status';
  const length = facts.contentLength;
  if (length !== undefined && Number(length) > ir.maxBodyBytes) return 'size';
  if (facts.setCookie) return 'set-cookie';
  const vary = facts.vary;
  if (vary !== undefined) {
    for (const name of directives(vary).keys()) if (name === '*' || !ir.key.headers.includes(name)) return 'vary';
  }
  if (ir.respectCacheControl) {
    const d = directives(facts.cacheControl);
    if (d.has('no-store') || d.has('no-cache') || d.has('private')) return 'cache-control';
  }
  return undefined;
}
