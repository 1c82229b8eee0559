/**
 * What a client sees of a decision: the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers)
 * for every enforced level that applied, Retry-After, and the problem+json body of a rejection.
 *
 *     RateLimit-Policy: "user";q=100;w=60, "tenant";q=1000;w=60
 *     RateLimit: "user";r=99;t=1, "tenant";r=0;t=7
 *     Retry-After: 7
 *
 * `t` of a level that rejected is the time until it admits this request; Retry-After is the
 * largest of those, so it is never earlier than any violated level's `t`. Shadow levels are not
 * shown: clients must not see a limit that is not enforced.
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

/** A level's name quoted once, and its RateLimit-Policy item for one rate (the same on every request). */
interface LevelText {
  readonly quoted: string;
  readonly limit: number;
  readonly windowSec: number;
  readonly policy: string;
}

/** Per rate of a level: its base rate, tenant overrides, the divided rate of the local mode. */
const RATES_PER_NAME = 8;

/** Level names come from config: their texts are kept (bounded anyway). */
const texts = new Map<string, LevelText[]>();
function levelText(name: string, limit: number, windowSec: number): LevelText {
  let list = texts.get(name);
  if (list === undefined) {
    list = [];
    if (texts.size < 4096) texts.set(name, list);
  }
  for (const t of list) if (t.limit === limit && t.windowSec === windowSec) return t;
  const quoted = list[0]?.quoted ?? sfString(name);
  const t = { quoted, limit, windowSec, policy: `${quoted};q=${limit};w=${windowSec}` };
  if (list.length >= RATES_PER_NAME) list.shift(); // the oldest rate goes (a config that changed)
  list.push(t);
  return t;
}

export function rateLimitHeaders(d: LimitDecision): Record<string, string> {
  const policy: string[] = [];
  const state: string[] = [];
  for (const l of d.levels) {
    if (l.shadow) continue;
    const t = levelText(l.name, l.limit, l.windowSec);
    policy.push(t.policy);
    state.push(`${t.quoted};r=${Math.max(0, Math.floor(l.remaining))};t=${l.resetSec}`);
  }
  const headers: Record<string, string> = {};
  if (policy.length > 0) {
    headers['RateLimit-Policy'] = policy.join(', ');
    headers['RateLimit'] = state.join(', ');
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
    levels: violated.map((l) => ({ level: l.name, policy: l.policy, limit: l.limit, windowSec: l.windowSec, retryAfterSec: l.resetSec })),
  };
}
