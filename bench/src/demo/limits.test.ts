import { describe, expect, it } from 'vitest';
import { renderLimits } from './limits.js';

describe('renderLimits', () => {
  it('shows each route with its mode and the limits that mode enforces', () => {
    const lines = renderLimits({
      rateLimits: [
        {
          route: 'jarvis/retrieve/rule-0',
          mode: 'open',
          policies: ['jarvis/gateway-defaults'],
          expectedReplicas: 1,
          summary: ['per-ip not enforced (policy 600/1m)'],
        },
        {
          route: 'jarvis/chat/rule-0',
          mode: 'local',
          policies: ['jarvis/chat-limits'],
          expectedReplicas: 2,
          summary: ['chat-global 50/1m (policy 100/1m)', 'per-ip 5/1m (policy 10/1m)'],
        },
      ],
    });
    expect(lines).toEqual([
      'Rate limits in effect (GET /admin/config):',
      '  jarvis/chat/rule-0 — jarvis/chat-limits — Local mode, no Redis: each limit ÷ expectedReplicas 2',
      '      chat-global 50/1m (policy 100/1m)',
      '      per-ip 5/1m (policy 10/1m)',
      '  jarvis/retrieve/rule-0 — jarvis/gateway-defaults — failure mode Open, no Redis: NOT enforced',
      '      per-ip not enforced (policy 600/1m)',
      "  Set REDIS_URL (e.g. REDIS_URL=redis://127.0.0.1:6379 npm run demo) to share the policies' limits in Redis.",
    ]);
  });

  it('says nothing about Redis when every route runs in its configured store, and nothing at all without limits', () => {
    const lines = renderLimits({
      rateLimits: [{ route: 'r', mode: 'redis', policies: ['p'], expectedReplicas: 2, summary: ['l 10/1s'] }],
    });
    expect(lines.join('\n')).not.toContain('REDIS_URL');
    expect(lines[1]).toContain('in Redis');
    expect(renderLimits(null)).toEqual([]);
    expect(renderLimits({ rateLimits: [{ bogus: true }] })).toEqual([]);
  });
});
