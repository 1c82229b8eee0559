/** Status on the targets: merging our conditions among other controllers', Programmed, and the Affected conditions. */
import { BACKEND_TYPE_URL, GATEWAY_TYPE_URL, type BackendIR, type Condition, type GatewayIR, type PolicyRef } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { affectedConditions, isAffectedType, routePolicies } from './affected.js';
import { mergeOwnedConditions } from './conditions.js';
import { EnforcementTracker, type GatewayView } from './enforcement.js';
import { programmed } from './programmed.js';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:05:00Z';
const cond = (type: string, status: Condition['status'], reason = 'R', extra: Partial<Condition> = {}): Condition => ({
  type,
  status,
  reason,
  message: 'm',
  observedGeneration: 1,
  lastTransitionTime: T0,
  ...extra,
});

describe('mergeOwnedConditions', () => {
  const ours = (t: string) => t === 'Accepted' || t === 'Programmed' || isAffectedType(t);

  it("sets ours, keeps everyone else's where they are, and removes ours that are no longer wanted", () => {
    const existing = [
      cond('Accepted', 'Unknown', 'Pending'),
      cond('example.com/Healthy', 'True'),
      cond('stability.jarvis.io/QueuePolicyAffected', 'True', 'Accepted'),
      cond('Programmed', 'Unknown', 'Pending'),
    ];
    const r = mergeOwnedConditions(
      existing,
      [
        { type: 'Accepted', status: true, reason: 'Accepted', message: 'ok' },
        { type: 'Programmed', status: false, reason: 'Pending', message: 'waiting' },
        { type: 'stability.jarvis.io/RateLimitPolicyAffected', status: true, reason: 'Accepted', message: 'x' },
      ],
      ours,
      2,
      T1,
    );
    expect(r.changed).toBe(true);
    expect(r.conditions.map((c) => [c.type, c.status, c.lastTransitionTime])).toEqual([
      ['Accepted', 'True', T1],
      ['example.com/Healthy', 'True', T0],
      ['Programmed', 'False', T1],
      ['stability.jarvis.io/RateLimitPolicyAffected', 'True', T1],
    ]);
    const again = mergeOwnedConditions(
      r.conditions,
      [
        { type: 'Accepted', status: true, reason: 'Accepted', message: 'ok' },
        { type: 'Programmed', status: false, reason: 'Pending', message: 'waiting' },
        { type: 'stability.jarvis.io/RateLimitPolicyAffected', status: true, reason: 'Accepted', message: 'x' },
      ],
      ours,
      2,
      '2026-01-02T00:00:00Z',
    );
    expect(again).toEqual({ conditions: r.conditions, changed: false });
  });

  it('keeps the transition time while the status stays, and sees a changed message as a change', () => {
    const existing = [cond('Accepted', 'True', 'Accepted', { message: 'old', observedGeneration: 2 })];
    const r = mergeOwnedConditions(existing, [{ type: 'Accepted', status: true, reason: 'Accepted', message: 'new' }], ours, 2, T1);
    expect(r.changed).toBe(true);
    expect(r.conditions[0]).toMatchObject({ message: 'new', lastTransitionTime: T0 });
  });
});

describe('Programmed', () => {
  const group = 'ns/gw';
  const view = (nodeId: string, acked: Record<string, string>, nacked: GatewayView['nacked'] = {}): GatewayView => ({
    nodeId,
    group,
    acked,
    nacked,
    features: new Set(),
  });
  const tracker = () => {
    const t = new EnforcementTracker();
    t.record(group, GATEWAY_TYPE_URL, 'g2', []);
    t.record(group, BACKEND_TYPE_URL, 'b7', []);
    return t;
  };
  const current = { [GATEWAY_TYPE_URL]: 'g2', [BACKEND_TYPE_URL]: 'b7' };

  it('is True once every connected gateway ACKed the current config of the Gateway', () => {
    expect(programmed(group, [view('a', current), view('b', current)], tracker())).toEqual({
      type: 'Programmed',
      status: true,
      reason: 'Programmed',
      message: 'Serving the current configuration: 2 gateways (a, b).',
    });
  });

  it('is Pending with no config, no gateway, or one that has not ACKed the current versions yet', () => {
    expect(programmed(group, [view('a', current)], new EnforcementTracker())).toMatchObject({ status: false, reason: 'Pending' });
    expect(programmed(group, [], tracker())).toMatchObject({
      status: false,
      reason: 'Pending',
      message: expect.stringContaining('--gateway ns/gw'),
    });
    expect(programmed(group, [{ ...view('x', current), group: 'other/gw' }], tracker())).toMatchObject({ reason: 'Pending' });
    expect(programmed(group, [view('a', current), view('b', { ...current, [BACKEND_TYPE_URL]: 'b6' })], tracker())).toMatchObject({
      status: false,
      reason: 'Pending',
      message: 'Waiting for gateways to acknowledge the current configuration: b',
    });
  });

  it('is Invalid when a gateway refused the current config, naming it and why', () => {
    const nack = { [GATEWAY_TYPE_URL]: { version: 'g2', message: 'bad regex' } };
    expect(
      programmed(group, [view('a', current), view('b', { [GATEWAY_TYPE_URL]: 'g1', [BACKEND_TYPE_URL]: 'b7' }, nack)], tracker()),
    ).toEqual({
      type: 'Programmed',
      status: false,
      reason: 'Invalid',
      message: 'The current configuration was refused; the previous one keeps serving: b (bad regex)',
    });
  });
});

describe('Affected', () => {
  const ref = (kind: PolicyRef['kind'], name: string, namespace = 'ns'): PolicyRef => ({ kind, namespace, name, generation: 1 });

  it('is one condition per kind, naming each policy once', () => {
    expect(
      affectedConditions([ref('RateLimitPolicy', 'b'), ref('RateLimitPolicy', 'a'), ref('RateLimitPolicy', 'b'), ref('CachePolicy', 'c')]),
    ).toEqual([
      { type: 'stability.jarvis.io/CachePolicyAffected', status: true, reason: 'Accepted', message: 'Affected by CachePolicy ns/c.' },
      {
        type: 'stability.jarvis.io/RateLimitPolicyAffected',
        status: true,
        reason: 'Accepted',
        message: 'Affected by RateLimitPolicy ns/a, ns/b.',
      },
    ]);
  });

  it("of a route: its rules' policies on that Gateway, its backends' breakers and the Gateway's identity", () => {
    const rule = (name: string, backend: string, policies: PolicyRef[]) => ({
      id: `ns/${name}/rule-0`,
      route: { namespace: 'ns', name },
      ruleIndex: 0,
      listeners: ['http'],
      hostnames: [],
      matches: [{ path: { type: 'PathPrefix' as const, value: '/' }, headers: [], queryParams: [] }],
      backends: [{ backend, weight: 1 }],
      unresolvedWeight: 0,
      ...(policies.length > 0
        ? {
            rateLimit: {
              levels: [],
              store: 'Memory' as const,
              failureMode: { mode: 'Open' as const, timeoutMs: 1, expectedReplicas: 1 },
              policies,
            },
          }
        : {}),
    });
    const gateway = {
      id: 'ns/gw',
      listeners: [],
      routes: [
        rule('chat', 'ns/llm:80', [ref('RateLimitPolicy', 'chat-limits'), ref('RateLimitPolicy', 'defaults')]),
        rule('other', 'ns/x:80', [ref('RateLimitPolicy', 'other')]),
      ],
      matchOrder: [],
      policies: [],
      identity: {
        source: ref('ClientIdentityPolicy', 'id'),
        trustedProxies: [],
        forwardedHeader: 'x-forwarded-for' as const,
        maxForwardedHops: 1,
        trustedHeaders: { tenant: 't', user: 'u' },
        ipv6Prefix: 64,
        maxIdLength: 1,
        reloadIntervalMs: 0,
      },
    } as unknown as GatewayIR;
    const backends = new Map<string, BackendIR>([
      [
        'ns/llm:80',
        {
          id: 'ns/llm:80',
          service: { namespace: 'ns', name: 'llm', port: 80 },
          endpoints: [],
          policies: [ref('CircuitBreakerPolicy', 'llm')],
        },
      ],
    ]);
    expect(affectedConditions(routePolicies(gateway, backends, 'ns', 'chat')).map((c) => c.message)).toEqual([
      'Affected by CircuitBreakerPolicy ns/llm.',
      'Affected by ClientIdentityPolicy ns/id.',
      'Affected by RateLimitPolicy ns/chat-limits, ns/defaults.',
    ]);
  });
});
