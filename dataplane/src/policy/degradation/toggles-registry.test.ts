import type { DegradationIR, RouteIR } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { DegradationRegistry, featuresView } from './toggles-registry.js';
import { SystemSignals } from './triggers/index.js';
import { featureHeaderValue } from './toggles.js';

const degradation = (over: Partial<DegradationIR> = {}): DegradationIR => ({
  triggers: [
    {
      name: 'slow',
      type: 'LatencyP95',
      latency: { activateMs: 200, deactivateMs: 100 },
      windowMs: 1_000,
      minSamples: 5,
      holdForMs: 2_000,
    },
  ],
  featureToggles: [
    { name: 'hybrid_search', enabled: true, disableWhen: ['slow'] },
    { name: 'legacy_ui', enabled: false, disableWhen: [] },
    { name: 'rerank', enabled: true, disableWhen: ['slow'] },
    { name: 'search', enabled: true, disableWhen: [] },
  ],
  featureHeader: 'x-jarvis-features',
  source: { kind: 'DegradationPolicy', namespace: 'ns', name: 'rag', generation: 1 },
  ...over,
});

const route = (id: string, d: DegradationIR | undefined): RouteIR => ({ id, ...(d ? { degradation: d } : {}) }) as unknown as RouteIR;

function setup() {
  const time = new ManualTime(0);
  const wall = new ManualTime(1_700_000_000_000);
  const events: string[] = [];
  const registry = new DegradationRegistry({
    stopwatch: time,
    clock: { now: () => wall.now() + time.now() },
    timers: time,
    tickMs: 100,
    events: {
      triggerChanged: (r, t) => events.push(`${r} ${t.trigger} ${t.active ? 'active' : 'inactive'}`),
      toggleChanged: (r, t) => events.push(`${r} ${t.feature} ${t.enabled ? 'on' : 'off'}`),
    },
  });
  return { time, registry, events };
}

describe('featureHeaderValue', () => {
  it('names every toggle with on or off, in order', () => {
    expect(
      featureHeaderValue([
        { name: 'hybrid_search', enabled: false },
        { name: 'rerank', enabled: true },
      ]),
    ).toBe('hybrid_search=off, rerank=on');
  });
});

describe('DegradationRegistry', () => {
  it('switches non-core features off while a trigger holds and back on after the exit threshold held, on its timer', () => {
    const { time, registry, events } = setup();
    const pending = registry.prepare();
    const rt = pending.runtime(route('r', degradation()));
    expect(pending.runtime(route('none', undefined))).toBeUndefined();
    pending.commit();
    if (!rt) throw new Error('no runtime');
    // A manual override (enabled: false) is off from the start; the rest are on.
    expect(rt.headerValue).toBe('hybrid_search=on, legacy_ui=off, rerank=on, search=on');
    // A feature the policy switched off is not degradation; one a trigger switched off is.
    expect(rt.degraded).toBe(false);
    const before = rt.headerEntry;
    for (let i = 0; i < 10; i++) rt.triggers.record(time.now(), false, 500);
    // Nothing changes until the timer evaluates.
    expect(rt.headerValue).toBe('hybrid_search=on, legacy_ui=off, rerank=on, search=on');
    time.advance(100);
    expect(rt.headerValue).toBe('hybrid_search=off, legacy_ui=off, rerank=off, search=on');
    expect(rt.headerEntry).toEqual({ 'x-jarvis-features': 'hybrid_search=off, legacy_ui=off, rerank=off, search=on' });
    expect(rt.headerEntry).not.toBe(before);
    expect(rt.degraded).toBe(true);
    expect(events).toEqual(['r slow active', 'r hybrid_search off', 'r rerank off']);
    expect(registry.isActive('r', 'slow')).toBe(true);
    expect(registry.activeTriggers('r')).toEqual(['slow']);
    const view = featuresView(registry.view()[0] as never);
    expect(view).toMatchObject({
      route: 'r',
      policy: 'ns/rag',
      header: 'x-jarvis-features',
      features: [
        { name: 'hybrid_search', enabled: false, core: false, reason: 'trigger', trigger: 'slow', since: expect.any(String) },
        { name: 'legacy_ui', enabled: false, core: true, reason: 'policy', trigger: null, since: null },
        { name: 'rerank', enabled: false, reason: 'trigger', trigger: 'slow' },
        { name: 'search', enabled: true, core: true, reason: null },
      ],
      triggers: [{ name: 'slow', type: 'LatencyP95', active: true, unit: 'ms', activations: 1 }],
    });
    // Fast calls: the slow ones age out after the 1 s window; then the exit threshold must hold 2 s.
    const calmFrom = 1_000;
    while (time.now() < 5_000) {
      rt.triggers.record(time.now(), false, 10);
      time.advance(50);
      if (time.now() < calmFrom + 2_000) expect(rt.headerValue).toContain('rerank=off');
    }
    expect(rt.headerValue).toBe('hybrid_search=on, legacy_ui=off, rerank=on, search=on');
    expect(rt.degraded).toBe(false);
    expect(events.slice(3)).toEqual(['r slow inactive', 'r hybrid_search on', 'r rerank on']);
    registry.close();
    expect(time.pending()).toBe(0);
  });

  it('keeps a route state across a config whose policy is unchanged, and starts afresh when it changed', () => {
    const { time, registry } = setup();
    const first = registry.prepare();
    const rt = first.runtime(route('r', degradation()));
    first.commit();
    for (let i = 0; i < 10; i++) rt?.triggers.record(0, false, 500);
    time.advance(100);
    expect(registry.isActive('r', 'slow')).toBe(true);
    // Same policy, a new generation: the same state.
    const same = registry.prepare();
    const kept = same.runtime(
      route('r', degradation({ source: { kind: 'DegradationPolicy', namespace: 'ns', name: 'rag', generation: 2 } })),
    );
    expect(kept).toBe(rt);
    same.commit();
    expect(registry.isActive('r', 'slow')).toBe(true);
    // An aborted config changes nothing.
    const aborted = registry.prepare();
    const other = aborted.runtime(route('r', degradation({ featureHeader: 'x-other' })));
    expect(other).not.toBe(rt);
    aborted.abort();
    expect(registry.view()[0]?.header).toBe('x-jarvis-features');
    expect(registry.isActive('r', 'slow')).toBe(true);
    // A changed policy: fresh state (nothing active yet).
    const changed = registry.prepare();
    changed.runtime(route('r', degradation({ featureHeader: 'x-other' })));
    changed.commit();
    expect(registry.isActive('r', 'slow')).toBe(false);
    expect(registry.view()[0]?.header).toBe('x-other');
    // A config without the route drops it and stops the timer.
    registry.prepare().commit();
    expect(registry.view()).toEqual([]);
    expect(time.pending()).toBe(0);
  });

  it("tells a route's watchers of the config in force when its triggers change, and once when the config is put in force", () => {
    const { time, registry } = setup();
    const seen: string[] = [];
    const first = registry.prepare();
    const rt = first.runtime(route('r', degradation({ shedPriorityClasses: [{ triggers: ['slow'], classes: ['batch'] }] })));
    first.watch('r', (ts) => seen.push(`first ${ts.map((t) => `${t.trigger}=${t.active}`).join(',')}`));
    // Not in force yet: nothing is told.
    for (let i = 0; i < 10; i++) rt?.triggers.record(time.now(), false, 500);
    registry.evaluate();
    expect(seen).toEqual([]);
    first.commit();
    expect(seen).toEqual(['first ']);
    time.advance(100);
    expect(seen).toEqual(['first ', 'first slow=true']);
    // GET /admin/features shows the rules and which of their triggers hold.
    expect(featuresView(registry.view()[0] as never)).toMatchObject({
      shedPriorityClasses: [{ classes: ['batch'], triggers: ['slow'], active: ['slow'] }],
    });
    // Evaluations without a change tell nobody.
    time.advance(500);
    expect(seen).toHaveLength(2);
    // An aborted config's watchers are never installed; a committed one's replace the previous ones.
    const aborted = registry.prepare();
    aborted.runtime(route('r', degradation()));
    aborted.watch('r', () => seen.push('aborted'));
    aborted.abort();
    const second = registry.prepare();
    // Without the shed rules: the same trigger state (only triggers, toggles and header count).
    expect(second.runtime(route('r', degradation()))).toBe(rt);
    second.watch('r', (ts) => seen.push(`second ${ts.map((t) => `${t.trigger}=${t.active}`).join(',')}`));
    second.commit();
    while (time.now() < 5_000) {
      rt?.triggers.record(time.now(), false, 10);
      time.advance(50);
    }
    expect(seen).toEqual(['first ', 'first slow=true', 'second ', 'second slow=false']);
    expect(registry.view()[0]?.shedPriorityClasses).toEqual([]);
    registry.close();
  });

  it("samples the gateway's own load only while a trigger reads it", () => {
    const time = new ManualTime(0);
    let samples = 0;
    const system = new SystemSignals(
      {
        cpuMs: () => (samples++, 0),
        rssBytes: () => 0,
        memoryLimitBytes: 1,
        takeLoopLagMs: () => 0,
      },
      time,
      time,
      1000,
    );
    const registry = new DegradationRegistry({ stopwatch: time, clock: time, timers: time, system });
    const cpu = degradation({
      triggers: [{ name: 'cpu', type: 'CPU', percent: { activate: 80, deactivate: 50 }, windowMs: 5_000, minSamples: 1, holdForMs: 0 }],
      featureToggles: [{ name: 'rerank', enabled: true, disableWhen: ['cpu'] }],
    });
    const latencyOnly = registry.prepare();
    latencyOnly.runtime(route('r', degradation()));
    latencyOnly.commit();
    expect(system.running).toBe(false);
    const withCpu = registry.prepare();
    withCpu.runtime(route('r', cpu));
    withCpu.commit();
    expect(system.running).toBe(true);
    time.advance(3_000);
    expect(samples).toBeGreaterThanOrEqual(3);
    registry.prepare().commit();
    expect(system.running).toBe(false);
    registry.close();
    expect(time.pending()).toBe(0);
  });
});
