import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { DecayingCounter, PeerGroup } from './decay.js';
import { compileHotspotGuard, type HotspotGuard } from './guard.js';
import { HotspotRegistry } from './registry.js';
import type { HotspotIR } from './types.js';

function surgeIR(comparePeers: boolean, over: Partial<HotspotIR> = {}): HotspotIR {
  return {
    parameters: [{ source: 'Tenant' }],
    windowMs: 10_000,
    topK: 3,
    minRequests: 50,
    activateSharePercent: 50,
    deactivateSharePercent: 25,
    cooldownMs: 5_000,
    limit: { algorithm: 'GCRA', limit: 10, periodMs: 1000 },
    routeSurge: { multiplierPercent: 200, baselineWindowMs: 300_000, comparePeers },
    mode: 'Enforce',
    source: { kind: 'RateLimitPolicy', namespace: 'jarvis', name: 'surge', generation: 1 },
    ...over,
  };
}

interface Load {
  readonly guard: HotspotGuard;
  rps: number;
  acc: number;
  /** Times at which a request of this route came back with Route hot, and all request times. */
  readonly surging: number[];
  readonly sent: number[];
}

const load = (guard: HotspotGuard, rps: number): Load => ({ guard, rps, acc: 0, surging: [], sent: [] });

/** Advances time in 10 ms steps for `ms`, sending each route's requests on schedule. */
function run(time: ManualTime, ms: number, loads: readonly Load[]): void {
  for (let t = 0; t < ms; t += 10) {
    time.advance(10);
    for (const l of loads) {
      l.acc += (l.rps * 10) / 1000;
      while (l.acc >= 1) {
        l.acc -= 1;
        const hot = l.guard.observe(l.guard.routeId, [{ parameter: 'Tenant', value: `t${l.sent.length % 10}` }]);
        l.sent.push(time.now());
        if (hot.some((h) => h.parameter === 'Route' && h.value === l.guard.routeId)) l.surging.push(time.now());
      }
    }
  }
}

/** Number of on/off changes of the surge flag over a route's requests. */
function flips(l: Load): number {
  const on = new Set(l.surging);
  let last = false;
  let n = 0;
  for (const t of l.sent) {
    const h = on.has(t);
    if (h !== last) n++;
    last = h;
  }
  return n;
}

describe('DecayingCounter and PeerGroup', () => {
  it('a steady stream reads as its rate, from the first second on', () => {
    const time = new ManualTime();
    const c = new DecayingCounter(10_000, time.now());
    for (let i = 0; i < 20; i++) {
      time.advance(100);
      c.add(time.now());
    }
    expect(c.rate(time.now())).toBeCloseTo(10, 0);
    for (let i = 0; i < 1_000; i++) {
      time.advance(100);
      c.add(time.now());
    }
    expect(c.rate(time.now())).toBeCloseTo(10, 0);
    expect(c.value(time.now())).toBeCloseTo(100, -1); // ≈ requests in the last τ
  });

  it('the gateway total equals the sum of its members, also after one leaves', () => {
    const time = new ManualTime();
    const g = new PeerGroup(10_000, time.now());
    const a = g.join(time.now());
    const b = g.join(time.now());
    const c = g.join(time.now());
    expect(g.othersMean(a, time.now())).toBe(0);
    for (let i = 0; i < 100; i++) {
      time.advance(50);
      g.record(a, time.now());
      if (i % 2 === 0) g.record(b, time.now());
    }
    const now = time.now();
    expect(g.othersMean(c, now)).toBeCloseTo((a.counter.value(now) + b.counter.value(now)) / 2, 9);
    g.leave(b, now);
    expect(g.othersMean(a, now)).toBeCloseTo(0, 9);
    g.leave(c, now);
    expect(g.othersMean(a, now)).toBeNaN();
  });
});

describe('route surge', () => {
  it('surges against its own baseline, once, and settles at the new level without flapping', () => {
    const time = new ManualTime();
    const guard = compileHotspotGuard('chat', surgeIR(false), { clock: time });
    const l = load(guard, 10);
    run(time, 600_000, [l]); // ten minutes at 10 rps: a steady route never surges (nor at startup)
    expect(l.surging).toHaveLength(0);
    expect(guard.topK().at(-1)).toMatchObject({ parameter: 'Route', value: 'chat', hot: false });

    const jump = time.now();
    l.rps = 40;
    run(time, 10_000, [l]);
    expect(l.surging.length).toBeGreaterThan(0);
    expect((l.surging[0] ?? Infinity) - jump).toBeLessThan(8_000);
    const line = guard.topK().at(-1);
    expect(line).toMatchObject({ parameter: 'Route', value: 'chat', hot: true, since: l.surging[0] });
    expect(line?.share).toBeGreaterThan(2);
    expect(line?.estimatedRate).toBeGreaterThan(25);

    // The baseline follows a lasting change: the new level becomes normal.
    run(time, 600_000, [l]);
    expect(guard.surge()?.surging).toBe(false);
    expect(flips(l)).toBe(2);
  });

  it('an idle route does not surge on a few requests (minRequests)', () => {
    const time = new ManualTime();
    const guard = compileHotspotGuard('rare', surgeIR(false), { clock: time });
    const l = load(guard, 0.1);
    run(time, 300_000, [l]);
    l.rps = 20; // 100× its baseline, but only ~40 requests in the window
    run(time, 2_000, [l]);
    l.rps = 0.1;
    run(time, 300_000, [l]);
    expect(l.surging).toHaveLength(0);
  });

  it('with comparePeers, a gateway-wide rise is not a surge, and one route rising alone is', () => {
    const time = new ManualTime();
    const registry = new HotspotRegistry({ peerWindowMs: 10_000 });
    const [a, b, c] = ['a', 'b', 'c'].map((id) => compileHotspotGuard(id, surgeIR(true), { clock: time }));
    if (!a || !b || !c) throw new Error('guards');
    // A control route that looks at its baseline only, outside the registry.
    const lone = compileHotspotGuard('lone', surgeIR(false), { clock: time });
    registry.replace([a, b, c]);
    const loads = [load(a, 10), load(b, 10), load(c, 10), load(lone, 10)];
    run(time, 600_000, loads);
    for (const l of loads) l.rps = 40; // everything doubles and more
    run(time, 30_000, loads);
    expect(loads[3]?.surging.length).toBeGreaterThan(0); // against its baseline alone: a surge
    for (const l of loads.slice(0, 3)) expect(l.surging).toHaveLength(0);
    expect(a.surge()?.peerMean).toBeGreaterThan(300);

    const registry2 = new HotspotRegistry();
    const [x, y, z] = ['x', 'y', 'z'].map((id) => compileHotspotGuard(id, surgeIR(true), { clock: time }));
    if (!x || !y || !z) throw new Error('guards');
    registry2.replace([x, y, z]);
    const loads2 = [load(x, 10), load(y, 10), load(z, 10)];
    run(time, 600_000, loads2);
    const jump = time.now();
    if (loads2[0]) loads2[0].rps = 40; // only x rises
    run(time, 30_000, loads2);
    expect(loads2[0]?.surging.length).toBeGreaterThan(0);
    expect((loads2[0]?.surging[0] ?? Infinity) - jump).toBeLessThan(10_000);
    expect(loads2[1]?.surging).toHaveLength(0);
    expect(loads2[2]?.surging).toHaveLength(0);
    expect(
      registry2
        .topK()
        .filter((e) => e.parameter === 'Route' && e.hot)
        .map((e) => e.routeId),
    ).toEqual(['x']);
  });
});
