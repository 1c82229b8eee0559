import { describe, expect, it } from 'vitest';
import { mergeConditions } from './conditions.js';
import { EnforcementTracker, type GatewayView } from './enforcement.js';

const GW = 'type.googleapis.com/jarvis.stability.v1alpha1.GatewayResource';
const BE = 'type.googleapis.com/jarvis.stability.v1alpha1.BackendResource';
const rlp = (generation: number) => ({ kind: 'RateLimitPolicy' as const, namespace: 'jarvis', name: 'chat-limits', generation });
const cbp = (generation: number) => ({ kind: 'CircuitBreakerPolicy' as const, namespace: 'jarvis', name: 'llm', generation });
const RL = 'stability.jarvis.io/RateLimitPolicy';
const CB = 'stability.jarvis.io/CircuitBreakerPolicy';
const gw = (
  nodeId: string,
  acked: Record<string, string>,
  nacked: GatewayView['nacked'] = {},
  features: readonly string[] = [RL, CB],
): GatewayView => ({
  nodeId,
  group: 'jarvis/jarvis-gateway',
  acked,
  nacked,
  features: new Set(features),
});

describe('EnforcementTracker', () => {
  it('is Enforced only when every connected gateway of the group ACKed a version with this generation', () => {
    const t = new EnforcementTracker();
    t.record('jarvis/jarvis-gateway', GW, 'g1', [rlp(1)]);
    t.record('jarvis/jarvis-gateway', BE, 'b1', [cbp(3)]);
    expect(t.enforced(rlp(1), [])).toMatchObject({ status: false, reason: 'Pending' });
    expect(t.enforced(rlp(1), [gw('a', { [GW]: 'g1' }), gw('b', {})])).toMatchObject({
      status: false,
      reason: 'Pending',
      message: expect.stringContaining('b'),
    });
    expect(t.enforced(rlp(1), [gw('a', { [GW]: 'g1' }), gw('b', { [GW]: 'g1' })])).toMatchObject({ status: true, reason: 'Enforced' });
    expect(t.enforced(cbp(3), [gw('a', { [GW]: 'g1', [BE]: 'b1' })])).toMatchObject({ status: true });
  });

  it('a new generation is Pending until ACKed; a NACK of it is NotEnforced naming the gateway', () => {
    const t = new EnforcementTracker();
    t.record('jarvis/jarvis-gateway', GW, 'g1', [rlp(1)]);
    t.record('jarvis/jarvis-gateway', GW, 'g2', [rlp(2)]);
    const stale = gw('a', { [GW]: 'g1' });
    expect(t.enforced(rlp(2), [stale])).toMatchObject({ status: false, reason: 'Pending' });
    const nacked = gw('a', { [GW]: 'g1' }, { [GW]: { version: 'g2', message: 'bad regex' } });
    expect(t.enforced(rlp(2), [nacked])).toEqual({ status: false, reason: 'NotEnforced', message: 'Rejected by gateways: a (bad regex)' });
    expect(t.enforced(rlp(2), [gw('a', { [GW]: 'g2' })])).toMatchObject({ status: true });
  });

  it('says NotEnforced when no gateway route uses the policy', () => {
    const t = new EnforcementTracker();
    t.record('jarvis/jarvis-gateway', GW, 'g1', []);
    expect(t.enforced(rlp(1), [gw('a', { [GW]: 'g1' })])).toMatchObject({ status: false, reason: 'NotEnforced' });
  });

  it('is Unsupported, naming the gateway and the feature, when a gateway does not announce what the policy needs', () => {
    const t = new EnforcementTracker();
    t.record('jarvis/jarvis-gateway', GW, 'g1', [rlp(1)]);
    const needs = { features: [RL, `${RL}.hotspot`] };
    // ACKed by both, but b does not enforce hot keys: acknowledging is not enforcing.
    const both = [gw('a', { [GW]: 'g1' }, {}, [RL, `${RL}.hotspot`]), gw('b', { [GW]: 'g1' }, {}, [RL])];
    expect(t.enforced(rlp(1), both, needs)).toEqual({
      status: false,
      reason: 'Unsupported',
      message: 'Not enforced: b (gateway jarvis/jarvis-gateway) does not enforce stability.jarvis.io/RateLimitPolicy.hotspot.',
    });
    // Unsupported wins over Pending and NotEnforced: waiting would not help.
    const waitingToo = [gw('a', {}, {}, [RL, `${RL}.hotspot`]), gw('b', { [GW]: 'g1' }, {}, [])];
    expect(t.enforced(rlp(1), waitingToo, needs)).toMatchObject({ reason: 'Unsupported', message: expect.stringContaining(RL) });
    expect(t.enforced(rlp(1), [gw('a', { [GW]: 'g1' }, {}, [RL, `${RL}.hotspot`])], needs)).toMatchObject({ status: true });
  });

  it('says Overridden, naming the winners, when every part of the policy is replaced where it applies', () => {
    const t = new EnforcementTracker();
    t.record('jarvis/jarvis-gateway', GW, 'g1', []);
    const needs = { features: [RL], overriddenBy: ['RateLimitPolicy jarvis/route-limits'] };
    expect(t.enforced(rlp(1), [gw('a', { [GW]: 'g1' })], needs)).toEqual({
      status: false,
      reason: 'Overridden',
      message:
        'Everything this policy sets is replaced, wherever it applies, by policies that take precedence: RateLimitPolicy jarvis/route-limits.',
    });
  });

  it('keeps a bounded history of versions', () => {
    const t = new EnforcementTracker();
    for (let i = 0; i < 100; i++) t.record('g', GW, `v${i}`, [rlp(i)]);
    const old = { nodeId: 'a', group: 'g', acked: { [GW]: 'v0' }, nacked: {}, features: new Set<string>() };
    expect(t.enforcedGeneration(old, rlp(0))).toBeUndefined();
    expect(t.enforcedGeneration({ ...old, acked: { [GW]: 'v99' } }, rlp(0))).toBe(99);
  });
});

describe('mergeConditions', () => {
  const now = '2026-01-01T00:00:00Z';
  const later = '2026-01-01T00:05:00Z';
  const accepted = { type: 'Accepted', status: true, reason: 'Accepted', message: 'ok' };

  it('sets the transition time when the status changes, and keeps it otherwise', () => {
    const first = mergeConditions(undefined, [accepted], 1, now);
    expect(first.changed).toBe(true);
    expect(first.conditions[0]).toMatchObject({ status: 'True', lastTransitionTime: now, observedGeneration: 1 });
    const same = mergeConditions(first.conditions, [accepted], 1, later);
    expect(same.changed).toBe(false);
    const newGen = mergeConditions(first.conditions, [accepted], 2, later);
    expect(newGen.changed).toBe(true);
    expect(newGen.conditions[0]?.lastTransitionTime).toBe(now);
    const flipped = mergeConditions(newGen.conditions, [{ ...accepted, status: false, reason: 'Invalid' }], 2, later);
    expect(flipped.conditions[0]).toMatchObject({ status: 'False', reason: 'Invalid', lastTransitionTime: later });
  });
});
