import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { compileHotspotGuard, type HotspotGuard } from './guard.js';
import { HotspotRegistry } from './registry.js';
import type { HotspotIR } from './types.js';

function hotspotIR(over: Partial<HotspotIR> = {}): HotspotIR {
  return {
    parameters: [{ source: 'Tenant' }, { source: 'Query', name: 'model' }],
    windowMs: 10_000,
    topK: 3,
    minRequests: 20,
    activateSharePercent: 40,
    deactivateSharePercent: 20,
    cooldownMs: 5_000,
    limit: { algorithm: 'TokenBucket', limit: 5, periodMs: 1000 },
    mode: 'Enforce',
    source: { kind: 'RateLimitPolicy', namespace: 'jarvis', name: 'limits', generation: 1 },
    ...over,
  };
}

function flood(time: ManualTime, guard: HotspotGuard, tenant: string, n = 200): void {
  for (let i = 0; i < n; i++) {
    time.advance(50);
    guard.observe(guard.routeId, [
      { parameter: 'Tenant', value: i % 2 === 0 ? tenant : `t${i % 7}` },
      { parameter: 'Query:model', value: `m${i % 5}` },
    ]);
  }
}

describe('HotspotRegistry', () => {
  it('lists every guard’s top-K, ordered by route', () => {
    const time = new ManualTime();
    const registry = new HotspotRegistry();
    const b = compileHotspotGuard('b-route', hotspotIR(), { clock: time });
    const a = compileHotspotGuard('a-route', hotspotIR(), { clock: time });
    registry.replace([b, a]);
    expect(registry.size).toBe(2);
    expect(registry.guard('a-route')).toBe(a);
    flood(time, a, 'acme');
    flood(time, b, 'globex');
    const top = registry.topK();
    expect(top.map((e) => e.routeId)).toEqual([...top.map((e) => e.routeId)].sort());
    expect(top.filter((e) => e.hot).map((e) => `${e.routeId} ${e.parameter} ${e.value}`)).toEqual([
      'a-route Tenant acme',
      'b-route Tenant globex',
    ]);
    // Per parameter at most topK lines (plus hot ones), so metric labels stay bounded.
    for (const id of ['a-route', 'b-route'])
      for (const p of ['Tenant', 'Query:model'])
        expect(top.filter((e) => e.routeId === id && e.parameter === p).length).toBeLessThanOrEqual(3);
  });

  it('a reload with the same detection settings keeps what was learned; changed settings start fresh', () => {
    const time = new ManualTime();
    const registry = new HotspotRegistry();
    const first = compileHotspotGuard('r', hotspotIR(), { clock: time });
    registry.replace([first]);
    flood(time, first, 'acme');
    expect(first.topK().find((e) => e.value === 'acme')?.hot).toBe(true);

    // A new limit or mode does not change detection: the new guard continues.
    const second = compileHotspotGuard('r', hotspotIR({ limit: { algorithm: 'GCRA', limit: 1, periodMs: 1000 }, mode: 'Shadow' }), {
      clock: time,
    });
    registry.replace([second]);
    expect(second.sharesStateWith(first)).toBe(true);
    const hot = second.observe('r', [{ parameter: 'Tenant', value: 'acme' }]);
    expect(hot).toEqual([{ parameter: 'Tenant', value: 'acme' }]);

    // A different threshold: fresh state.
    const third = compileHotspotGuard('r', hotspotIR({ activateSharePercent: 45 }), { clock: time });
    registry.replace([third]);
    expect(third.sharesStateWith(second)).toBe(false);
    expect(third.topK()).toEqual([]);
  });

  it('routes removed from the config leave the peer comparison', () => {
    const time = new ManualTime();
    const registry = new HotspotRegistry();
    const ir = hotspotIR({ routeSurge: { multiplierPercent: 200, baselineWindowMs: 60_000, comparePeers: true } });
    const a = compileHotspotGuard('a', ir, { clock: time });
    const b = compileHotspotGuard('b', ir, { clock: time });
    registry.replace([a, b]);
    flood(time, b, 'x', 400);
    expect(a.surge()?.peerMean).toBeGreaterThan(100);
    registry.replace([compileHotspotGuard('a', ir, { clock: time })]);
    expect(registry.size).toBe(1);
    expect(registry.guard('a')?.surge()?.peerMean).toBeNaN(); // alone: nothing to compare with
    expect(registry.guard('b')).toBeUndefined();
  });
});
