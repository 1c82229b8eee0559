/**
 * GEP-713 strategies as pure logic: which policies take effect (strategy.ts), what "looser" means
 * for a rate limit's failure mode (merge.ts), and the generic merge of the other kinds
 * (merge-settings.ts). The golden tests show the same on whole configs.
 */
import { describe, expect, it } from 'vitest';
import type { Strategy } from '../schema/attachment.js';
import type { PolicyKind } from '../schema/kinds.js';
import { atLeastAsStrict } from './merge.js';
import { mergeSettings } from './merge-settings.js';
import type { Attached } from './policies.js';
import { effective } from './strategy.js';

function policy(
  name: string,
  role: 'defaults' | 'overrides',
  strategy: Strategy,
  spec: object = {},
  kind: PolicyKind = 'QueuePolicy',
): Attached {
  return {
    model: {
      kind,
      meta: { namespace: 'ns', name, generation: 1, labels: {} },
      policy: { apiVersion: 'stability.jarvis.io/v1alpha1', kind, metadata: { name }, spec: { targetRefs: [], ...spec } } as never,
      attachment: { role, strategy, path: role === 'defaults' ? 'spec' : 'spec.overrides' },
    },
    ref: { kind, namespace: 'ns', name, generation: 1 },
    targets: [],
  };
}

const names = (list: readonly Attached[]) => list.map((a) => a.ref.name);

describe('effective (folding order: defaults most specific first, then overrides most specific first)', () => {
  const route = (s: Strategy) => policy('route', 'defaults', s);
  const gwDefaults = (s: Strategy) => policy('gw-defaults', 'defaults', s);
  const gwOverrides = (s: Strategy) => policy('gw-overrides', 'overrides', s);
  const nsOverrides = (s: Strategy) => policy('ns-overrides', 'overrides', s);

  it.each([
    ['defaults Merge under a route', [route('Atomic'), gwDefaults('Merge')], ['route', 'gw-defaults']],
    ['defaults Atomic under a route', [route('Merge'), gwDefaults('Atomic')], ['route']],
    ['defaults Atomic alone', [gwDefaults('Atomic')], ['gw-defaults']],
    ['overrides Merge over a route', [route('Atomic'), gwOverrides('Merge')], ['gw-overrides', 'route']],
    ['overrides Atomic over a route', [route('Merge'), gwOverrides('Atomic')], ['gw-overrides']],
    [
      'a Gateway override (Merge) over a Namespace override (Atomic) over a route and Gateway defaults',
      [route('Merge'), gwDefaults('Merge'), nsOverrides('Atomic'), gwOverrides('Merge')],
      ['gw-overrides', 'ns-overrides'],
    ],
    [
      'a Gateway override (Atomic) replaces a Namespace override',
      [route('Merge'), nsOverrides('Merge'), gwOverrides('Atomic')],
      ['gw-overrides'],
    ],
    [
      'Merge all the way',
      [route('Merge'), gwDefaults('Merge'), nsOverrides('Merge'), gwOverrides('Merge')],
      ['gw-overrides', 'ns-overrides', 'route', 'gw-defaults'],
    ],
    ['nothing', [], []],
  ] as const)('%s', (_what, folding, expected) => {
    expect(names(effective(folding))).toEqual(expected);
  });
});

describe('atLeastAsStrict (failure modes: Open < Local < Closed; Local by expectedReplicas)', () => {
  const fm = (mode: 'Open' | 'Local' | 'Closed', expectedReplicas = 1) => ({ mode, timeoutMs: 50, expectedReplicas });
  it.each([
    [fm('Closed'), fm('Local', 8), true],
    [fm('Local'), fm('Open'), true],
    [fm('Open'), fm('Local'), false],
    [fm('Local', 1), fm('Local', 2), false],
    [fm('Local', 3), fm('Local', 2), true],
    [fm('Open'), fm('Open'), true],
    [fm('Closed', 1), fm('Closed', 9), true],
  ] as const)('%j at least as strict as %j: %s', (a, b, expected) => {
    expect(atLeastAsStrict(a, b)).toBe(expected);
  });
});

describe('mergeSettings (keyed lists by key, optional settings whole, the rest with the first)', () => {
  it('merges a QueuePolicy by the schema’s own shape', () => {
    const high = policy('high', 'overrides', 'Merge', {
      maxInFlight: 5,
      maxQueued: 1,
      priorityClasses: [{ name: 'vip', priority: 90 }],
    });
    const low = policy('low', 'defaults', 'Merge', {
      maxInFlight: 100,
      maxQueued: 100,
      priorityClasses: [
        { name: 'vip', priority: 1 },
        { name: 'std', priority: 10 },
      ],
      fairness: { key: 'Tenant' },
    });
    const unused = policy('unused', 'defaults', 'Merge', { maxInFlight: 7, maxQueued: 7 });
    const m = mergeSettings([high, low, unused]);
    expect(m.spec).toMatchObject({
      maxInFlight: 5,
      maxQueued: 1,
      priorityClasses: [
        { name: 'vip', priority: 90 },
        { name: 'std', priority: 10 },
      ],
      fairness: { key: 'Tenant' },
    });
    expect(m.origins.get('fairness')).toBe(low);
    expect(m.origins.get('maxInFlight')).toBe(high);
    expect(names(m.used)).toEqual(['high', 'low']);
  });

  it('takes each optional section of a CircuitBreakerPolicy from the first that has it', () => {
    const a = policy('a', 'defaults', 'Merge', { activeHealthCheck: { type: 'TCP' } }, 'CircuitBreakerPolicy');
    const b = policy('b', 'defaults', 'Merge', { breaker: { x: 1 }, activeHealthCheck: { type: 'HTTP' } }, 'CircuitBreakerPolicy');
    const m = mergeSettings([a, b]);
    expect(m.spec).toEqual({ targetRefs: [], activeHealthCheck: { type: 'TCP' }, breaker: { x: 1 } });
    expect(names(m.used)).toEqual(['a', 'b']);
  });
});
