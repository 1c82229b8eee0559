import { describe, expect, it } from 'vitest';
import { problemBody, QUOTA_EXCEEDED_TYPE, rateLimitHeaders } from './headers.js';
import type { LimitDecision } from './types.js';

const rejected: LimitDecision = {
  allowed: false,
  retryAfterSec: 30,
  levels: [
    { name: 'user', policy: 'jarvis/chat', limit: 100, windowSec: 60, remaining: 42, resetSec: 12, allowed: true, shadow: false },
    { name: 'tenant', policy: 'jarvis/tenants', limit: 1000, windowSec: 86400, remaining: 0, resetSec: 30, allowed: false, shadow: false },
    { name: 'dry-run', policy: 'jarvis/new', limit: 1, windowSec: 1, remaining: 0, resetSec: 1, allowed: false, shadow: true },
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

  it('escapes level names into valid structured-field strings', () => {
    const d: LimitDecision = {
      allowed: true,
      levels: [{ ...(rejected.levels[0] as LimitDecision['levels'][number]), name: 'a"b\\c\u00e9' }],
    };
    expect(rateLimitHeaders(d)['RateLimit-Policy']).toBe('"a\\"b\\\\c?";q=100;w=60');
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
      levels: [{ level: 'tenant', policy: 'jarvis/tenants', limit: 1000, windowSec: 86400, retryAfterSec: 30 }],
    });
  });

  it('answers 503 when the store is down and the policy fails closed', () => {
    expect(problemBody({ allowed: false, levels: [], degraded: 'closed', retryAfterSec: 1 }, '/x')).toMatchObject({ status: 503 });
  });
});
