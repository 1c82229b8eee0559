import { describe, expect, it } from 'vitest';
import { banner } from './run.js';

describe('the demo banner', () => {
  const text = banner(
    { url: 'http://127.0.0.1:8080', adminUrl: 'http://127.0.0.1:9901', logFile: '/tmp/gateway.log' },
    { mocks: [{ name: 'llm-gpt-4', kind: 'llm', port: 1, url: 'http://127.0.0.1:1' }] },
    '/tmp/config',
  );

  it('hints only at what the gateway enforces today: rate limits and hot keys', () => {
    expect(text).toContain('ratelimit');
    expect(text).toContain('/admin/hotkeys');
    expect(text).toContain('/admin/config');
    // No fallback, breaker or degradation stage runs on the request path yet: nothing may suggest one.
    expect(text).not.toMatch(/fall ?back|fail(s|ing)? over|circuit|breaker|degrad|__mock\/config/i);
  });
});
