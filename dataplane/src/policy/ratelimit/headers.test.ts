import { describe, expect, it } from 'vitest';
import { ietfQuota, problemBody, QUOTA_EXCEEDED_TYPE, rateLimitHeaders } from './headers.js';
import type { LimitDecision } from './types.js';

const rejected: LimitDecision = {
  allowed: false,
  retryAfterSec: 30,
  levels: [
    { name: 'user', policy: 'jarvis/chat', limit: 100, periodMs: 60_000, remaining: 42, resetSec: 12, allowed: true, shadow: false },
    {
      name: 'tenant',
      policy: 'jarvis/tenants',
      limit: 1000,
      periodMs: 86_400_000,
      remaining: 0,
      resetSec: 30,
      allowed: false,
      shadow: false,
    },
    { name: 'dry-run', policy: 'jarvis/new', limit: 1, periodMs: 1000, remaining: 0, resetSec: 1, allowed: false, shadow: true },
  ],
};

describe('rateLimitHeaders', () => {
  it('lists every enforced level in RateLimit-Policy and RateLimit, and Retry-After when rejected', () => {
    expect(rateLimitHeaders(rejected)).toEqual({
      'RateLimit-Policy': '"user";q=100;w=60, "tenant";q=1000;w=86400',
      RateLimit: '"user";r=42;t=12, "tenant";r=0;t=30',
      'Retry-After': '30',
    });
  });

  it('adds nothing for a decision without levels; no Retry-After when admitted', () => {
    expect(rateLimitHeaders({ allowed: true, levels: [] })).toEqual({});
    expect(rateLimitHeaders({ ...rejected, allowed: true })['Retry-After']).toBeUndefined();
  });

  it('lists the levels each decision shows, in its order, whatever other decisions showed before (and past the bounds of the kept values)', () => {
    type Level = LimitDecision['levels'][number];
    const level = (name: string, limit: number): Level => ({
      name,
      policy: 'ns/p',
      limit,
      periodMs: 1000,
      remaining: limit - 1,
      resetSec: 1,
      allowed: true,
      shadow: false,
    });
    const policyOf = (levels: Level[]): string | undefined => rateLimitHeaders({ allowed: true, levels })['RateLimit-Policy'];
    const a = level('a', 1);
    const b = level('b', 2);
    const c = level('c', 3);
    for (let round = 0; round < 2; round++) {
      expect(policyOf([a, b, c])).toBe('"a";q=1;w=1, "b";q=2;w=1, "c";q=3;w=1');
      expect(policyOf([a, c])).toBe('"a";q=1;w=1, "c";q=3;w=1');
      expect(policyOf([c, b, a])).toBe('"c";q=3;w=1, "b";q=2;w=1, "a";q=1;w=1');
      expect(policyOf([b])).toBe('"b";q=2;w=1');
      expect(policyOf([a, { ...b, shadow: true }, c])).toBe('"a";q=1;w=1, "c";q=3;w=1');
    }
    // More levels after one than are kept, and more runs than are kept: each still right.
    for (let i = 0; i < 40; i++) expect(policyOf([a, level(`n${i}`, i + 1), b])).toBe(`"a";q=1;w=1, "n${i}";q=${i + 1};w=1, "b";q=2;w=1`);
    for (let i = 0; i < 5000; i++) {
      const x = level(`x${i % 100}`, 1 + (i % 7));
      const y = level(`y${i}`, 5);
      expect(policyOf([x, y])).toBe(`"x${i % 100}";q=${1 + (i % 7)};w=1, "y${i}";q=5;w=1`);
    }
    expect(policyOf([a, b, c])).toBe('"a";q=1;w=1, "b";q=2;w=1, "c";q=3;w=1');
  });

  it('escapes level names into valid structured-field strings', () => {
    const d: LimitDecision = {
      allowed: true,
      levels: [{ ...(rejected.levels[0] as LimitDecision['levels'][number]), name: 'a"b\\c\u00e9' }],
    };
    expect(rateLimitHeaders(d)['RateLimit-Policy']).toBe('"a\\"b\\\\c?";q=100;w=60');
  });
});

describe('ietfQuota', () => {
  it('keeps whole-second periods as they are', () => {
    expect(ietfQuota(100, 60_000)).toEqual({ q: 100, w: 60 });
    expect(ietfQuota(10_000, 86_400_000)).toEqual({ q: 10_000, w: 86_400 });
    expect(ietfQuota(10, 1000)).toEqual({ q: 10, w: 1 });
  });

  it('states a sub-second or fractional period as the same rate over whole seconds', () => {
    expect(ietfQuota(5, 500)).toEqual({ q: 10, w: 1 });
    expect(ietfQuota(2, 500)).toEqual({ q: 4, w: 1 });
    expect(ietfQuota(1, 250)).toEqual({ q: 4, w: 1 });
    expect(ietfQuota(5, 1500)).toEqual({ q: 10, w: 3 });
    expect(ietfQuota(3, 300)).toEqual({ q: 30, w: 3 });
    expect(ietfQuota(7, 2500)).toEqual({ q: 14, w: 5 });
  });

  it('rounds the quota down when no short whole-second window holds whole periods', () => {
    expect(ietfQuota(5, 333)).toEqual({ q: 15, w: 1 }); // 15.02 per second
    expect(ietfQuota(1, 90_500)).toEqual({ q: 1, w: 91 });
    expect(ietfQuota(100, 61_001)).toEqual({ q: 101, w: 62 }); // 101.6 per 62 s
  });

  it('never states a higher rate than the limit, and w is a positive integer', () => {
    for (const periodMs of [1, 7, 99, 333, 500, 999, 1001, 1500, 59_999, 61_001, 3_599_999]) {
      for (const limit of [1, 2, 5, 17, 1000]) {
        const { q, w } = ietfQuota(limit, periodMs);
        expect(Number.isInteger(q) && Number.isInteger(w) && q >= 1 && w >= 1).toBe(true);
        expect(q / (w * 1000)).toBeLessThanOrEqual(limit / periodMs + 1e-12);
      }
    }
  });
});

describe('RateLimit-Policy for sub-second windows', () => {
  it('shows 5 per 500 ms as q=10;w=1 (not q=5;w=1 or q=2;w=1)', () => {
    const d: LimitDecision = {
      allowed: true,
      levels: [{ name: 'hot', policy: 'p/x', limit: 5, periodMs: 500, remaining: 4, resetSec: 1, allowed: true, shadow: false }],
    };
    expect(rateLimitHeaders(d)['RateLimit-Policy']).toBe('"hot";q=10;w=1');
  });
});

describe('problemBody', () => {
  it('names the violated policies and levels', () => {
    expect(problemBody(rejected, '/api/v1/chat')).toEqual({
      type: QUOTA_EXCEEDED_TYPE,
      title: 'Quota exceeded',
      status: 429,
      detail: 'Rate limit exceeded at level tenant of policy jarvis/tenants; retry after 30 s.',
      instance: '/api/v1/chat',
      'violated-policies': ['tenant'],
      levels: [{ level: 'tenant', policy: 'jarvis/tenants', limit: 1000, periodMs: 86_400_000, retryAfterSec: 30 }],
    });
  });

  it('answers 503 when the store is down and the policy fails closed', () => {
    expect(problemBody({ allowed: false, levels: [], degraded: 'closed', retryAfterSec: 1 }, '/x')).toMatchObject({ status: 503 });
  });
});
