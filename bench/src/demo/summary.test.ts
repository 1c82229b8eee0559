import { describe, expect, it } from 'vitest';

import { DemoSummary, rejectedLevel, renderHotkeys } from './summary.js';

describe('rejectedLevel', () => {
  it('reads policy and level from the problem details', () => {
    const body = JSON.stringify({
      status: 429,
      'violated-policies': ['per-ip'],
      levels: [{ level: 'per-ip', policy: 'jarvis/chat-limits' }],
    });
    expect(rejectedLevel(body, undefined)).toBe('jarvis/chat-limits/per-ip');
    expect(rejectedLevel(JSON.stringify({ 'violated-policies': ['tenant', 'user'] }), undefined)).toBe('tenant+user');
  });

  it('falls back to the RateLimit field', () => {
    expect(rejectedLevel('Too many', '"burst";r=0;t=3, "daily";r=40;t=600')).toBe('burst');
    expect(rejectedLevel('', undefined)).toBe('unknown');
  });
});

describe('summary', () => {
  it('counts by route, status and level', () => {
    const s = new DemoSummary();
    s.record({ route: 'chat', status: 200, servedBy: 'chat-api' });
    s.record({ route: 'chat', status: 429, level: 'p/per-ip' });
    s.record({ route: 'retrieve', status: 200, servedBy: 'vector-search', features: 'rerank=off' });
    s.record({ route: 'retrieve', status: 0 });
    const text = s.render(4, 2, ['a: b']).join('\n');
    expect(text).toContain('requests 4 (2/s)  2xx 2  429 1  5xx 0  other 0  no response 1');
    expect(text).toMatch(/chat\s+2 {2}\[200 1, 429 1\] {2}served by chat-api 1/);
    expect(text).toContain('features: rerank=off');
    expect(text).toContain('429 by level: p/per-ip 1');
    expect(s.counts()).toEqual({
      routes: {
        chat: { statuses: { '200': 1, '429': 1 }, rejectedBy: { 'p/per-ip': 1 } },
        retrieve: { statuses: { '0': 1, '200': 1 }, rejectedBy: {} },
      },
    });
  });

  it('renders hot keys grouped by route and parameter, or any shape compactly', () => {
    const hot = renderHotkeys([
      { routeId: 'r', parameter: 'Tenant', value: 'acme', share: 0.66, hot: true },
      { routeId: 'r', parameter: 'Tenant', value: 'globex', share: 0.1, hot: false },
    ]);
    expect(hot).toEqual(['r Tenant: acme 66% HOT, globex 10%']);
    // The route's own entry is its rate against its baseline, not a share.
    expect(renderHotkeys([{ routeId: 'r', parameter: 'Route', value: 'r', share: 1.04, hot: false }])).toEqual([
      'r Route: r at 1.04× baseline',
    ]);
    expect(renderHotkeys({ tenants: [{ value: 'x', count: 3 }], empty: [] })).toEqual(['tenants: value=x count=3']);
  });
});
