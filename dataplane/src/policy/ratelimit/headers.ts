/**
 * What a client sees of a decision: the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers)
 * for every enforced level that applied, Retry-After, and the problem+json body of a rejection.
 *
 *     RateLimit-Policy: "user";q=100;w=60, "tenant";q=1000;w=60
 *     RateLimit: "user";r=99;t=1, "tenant";r=0;t=7
 *     Retry-After: 7
 *
 * `q` and `w` are integers, `w` in seconds (see ietfQuota for periods that are not whole
 * seconds). `t` of a level that rejected is the time until it admits this request; Retry-After is
 * the largest of those, so it is never earlier than any violated level's `t`. Shadow levels are
 * not shown: clients must not see a limit that is not enforced.
 */
import type { LimitDecision } from './types.js';

/** Problem type of a rejected request (RFC 9457 + the RateLimit draft's registered type). */
export const QUOTA_EXCEEDED_TYPE = 'https://iana.org/assignments/http-problem-types#quota-exceeded';

/** A structured-field string: printable ASCII with `"` and `\` escaped; anything else replaced by `?`. */
function sfString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length && i < 128; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 0x22 || ch === 0x5c) out += '\\' + s[i];
    else if (ch >= 0x20 && ch <= 0x7e) out += s[i];
    else out += '?';
  }
  return out + '"';
}

/** The most seconds `w` may span to state a period that is not whole seconds exactly. */
const MAX_EXACT_WINDOW_SEC = 60;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * A limit per period as the draft's quota `q` per window `w` — both integers, `w` in seconds —
 * stating the same rate: 5 per 500 ms is `q=10;w=1`, 5 per 1500 ms `q=10;w=3`, 100 per 1 m
 * `q=100;w=60`. `w` is the shortest whole number of seconds holding a whole number of periods;
 * when that would exceed a minute (say 5 per 333 ms), `w` is the period rounded up to whole
 * seconds and `q` what that many seconds admit at the limit's rate, rounded down — never more
 * than the gateway admits.
 */
export function ietfQuota(limit: number, periodMs: number): { q: number; w: number } {
  const ms = Math.max(1, Math.round(periodMs));
  if (ms % 1000 === 0) return { q: limit, w: ms / 1000 };
  const exact = ms / gcd(ms, 1000); // seconds in lcm(ms, 1000) ms
  if (exact <= MAX_EXACT_WINDOW_SEC) return { q: (limit * exact * 1000) / ms, w: exact };
  const w = Math.ceil(ms / 1000);
  return { q: Math.max(1, Math.floor((limit * w * 1000) / ms)), w };
}

/** A level's name quoted once, and its RateLimit-Policy item for one rate (the same on every request). */
interface LevelText {
  readonly quoted: string;
  readonly limit: number;
  readonly periodMs: number;
  readonly policy: string;
  /** RateLimit-Policy when this level is the first shown, and the fields that continue from it. */
  readonly join: PolicyJoin;
}

/**
 * A RateLimit-Policy value for a run of levels, and the values of the runs one level longer. A
 * route shows the same levels on nearly every request, so its value is one string made once,
 * not the items joined again on each request (a fresh string, flattened when Node checks it).
 */
interface PolicyJoin {
  readonly text: string;
  /** The level this run ends with. */
  readonly last: LevelText | undefined;
  /** The runs one level longer, searched by their last level (a few; compared by identity). */
  readonly next: PolicyJoin[];
}

/** Bounds of the joins: runs are per route's levels (config), but conditions can skip any level. */
const MAX_JOINS = 4096;
const MAX_NEXT_PER_JOIN = 16;
let joins = 0;

/** The value for `join`'s levels followed by `t`'s, kept while within the bounds (else made anew). */
function extend(join: PolicyJoin, t: LevelText): PolicyJoin {
  const next = join.next;
  for (let i = 0; i < next.length; i++) if ((next[i] as PolicyJoin).last === t) return next[i] as PolicyJoin;
  const longer: PolicyJoin = { text: `${join.text}, ${t.policy}`, last: t, next: [] };
  if (joins < MAX_JOINS && next.length < MAX_NEXT_PER_JOIN) {
    next.push(longer);
    joins++;
  }
  return longer;
}

/** Per rate of a level: its base rate, tenant overrides, the divided rate of the local mode. */
const RATES_PER_NAME = 8;

/** Level names come from config: their texts are kept (bounded anyway). */
const texts = new Map<string, LevelText[]>();
function levelText(name: string, limit: number, periodMs: number): LevelText {
  let list = texts.get(name);
  if (list === undefined) {
    list = [];
    if (texts.size < 4096) texts.set(name, list);
  }
  for (const t of list) if (t.limit === limit && t.periodMs === periodMs) return t;
  const quoted = list[0]?.quoted ?? sfString(name);
  const { q, w } = ietfQuota(limit, periodMs);
  const policy = `${quoted};q=${q};w=${w}`;
  const t = { quoted, limit, periodMs, policy, join: { text: policy, last: undefined, next: [] } };
  if (list.length >= RATES_PER_NAME) list.shift(); // the oldest rate goes (a config that changed)
  list.push(t);
  return t;
}

/** The fields' names as this module writes them (a later check of the same request joins its items to them). */
export const RATELIMIT_POLICY_FIELD = 'RateLimit-Policy';
export const RATELIMIT_FIELD = 'RateLimit';

export function rateLimitHeaders(d: LimitDecision): Record<string, string> {
  // RateLimit is built by concatenation: a request's fields are a few items long, and two arrays
  // joined cost more than the strings themselves. RateLimit-Policy is looked up (PolicyJoin).
  let policy: PolicyJoin | undefined;
  let state = '';
  for (const l of d.levels) {
    if (l.shadow) continue;
    const t = levelText(l.name, l.limit, l.periodMs);
    const item = `${t.quoted};r=${Math.max(0, Math.floor(l.remaining))};t=${l.resetSec}`;
    if (policy === undefined) {
      policy = t.join;
      state = item;
    } else {
      policy = extend(policy, t);
      state += ', ' + item;
    }
  }
  const headers: Record<string, string> = {};
  if (policy !== undefined) {
    headers[RATELIMIT_POLICY_FIELD] = policy.text;
    headers[RATELIMIT_FIELD] = state;
  }
  if (!d.allowed && d.retryAfterSec !== undefined) headers['Retry-After'] = String(d.retryAfterSec);
  return headers;
}

export function problemBody(d: LimitDecision, instance: string): object {
  if (d.degraded === 'closed') {
    return {
      type: 'about:blank',
      title: 'Rate limiting unavailable',
      status: 503,
      detail: 'The rate-limit store is unreachable and the policy fails closed.',
      instance,
    };
  }
  const violated = d.levels.filter((l) => !l.allowed && !l.shadow);
  const names = violated.map((l) => l.name);
  return {
    type: QUOTA_EXCEEDED_TYPE,
    title: 'Quota exceeded',
    status: 429,
    detail:
      violated.length > 0
        ? `Rate limit exceeded at ${violated.map((l) => `level ${l.name} of policy ${l.policy}`).join(', ')}; retry after ${d.retryAfterSec ?? 1} s.`
        : 'Rate limit exceeded.',
    instance,
    'violated-policies': names,
    levels: violated.map((l) => ({ level: l.name, policy: l.policy, limit: l.limit, periodMs: l.periodMs, retryAfterSec: l.resetSec })),
  };
}
