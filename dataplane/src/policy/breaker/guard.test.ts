/**
 * A backend's guard with its endpoints, on a hand-driven clock: health thresholds, ejection and
 * re-admission, the ejection cap, the panic threshold in endpoint choice, and the registry
 * carrying state across config reloads (and starting nothing before commit).
 */
import type { BackendIR, CircuitBreakerIR } from '@jarvis/api';
import { Pool } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { GuardedBackend } from '../../proxy/upstreams.js';
import { REJECTED } from './breaker.js';
import { NO_EVENTS, type BackendEvents } from './events.js';
import { type BackendGuard } from './guard.js';
import type { Prober } from './health.js';
import { BackendGuardRegistry } from './registry.js';

const ORIGINS = ['http://10.0.0.1:80', 'http://10.0.0.2:80', 'http://10.0.0.3:80', 'http://10.0.0.4:80'];

function backendIR(cb: Partial<CircuitBreakerIR> | undefined, addresses = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']): BackendIR {
  return {
    id: 'ns/svc:80',
    service: { namespace: 'ns', name: 'svc', port: 80 },
    endpoints: addresses.map((address) => ({ address, port: 80, ready: true, serving: true, terminating: false })),
    ...(cb
      ? {
          circuitBreaker: {
            panicThresholdPercent: 50,
            source: { kind: 'CircuitBreakerPolicy', namespace: 'ns', name: 'cb', generation: 1 },
            ...cb,
          },
        }
      : {}),
    policies: [],
  };
}

const OUTLIER = { intervalMs: 10_000, consecutive5xx: 3, baseEjectionTimeMs: 1_000, maxEjectionTimeMs: 5_000, maxEjectionPercent: 50 };
const HEALTH = { type: 'TCP' as const, intervalMs: 1_000, timeoutMs: 100, unhealthyThreshold: 2, healthyThreshold: 2 };

/** A prober whose verdict per origin the test sets; answers at once. */
function prober() {
  const verdict = new Map<string, boolean>();
  const probes: string[] = [];
  const p: Prober = {
    probe(origin, _ir, done) {
      probes.push(origin);
      done(verdict.get(origin) ?? true);
    },
    close: async () => {},
  };
  return { p, verdict, probes };
}

function recorder() {
  const events: string[] = [];
  const e: BackendEvents = {
    ...NO_EVENTS,
    ejected: (_b, origin, reason, ms) => events.push(`ejected ${origin} ${reason} ${ms}`),
    ejectionSkipped: (_b, origin) => events.push(`skipped ${origin}`),
    readmitted: (_b, origin, why) => events.push(`readmitted ${origin} ${why}`),
    healthChanged: (_b, origin, healthy) => events.push(`${healthy ? 'healthy' : 'unhealthy'} ${origin}`),
  };
  return { e, events };
}

function setup(cb: Partial<CircuitBreakerIR> | undefined, addresses?: string[]) {
  const time = new ManualTime(0);
  const probe = prober();
  const rec = recorder();
  const registry = new BackendGuardRegistry({ clock: time, timers: time, random: () => 0, prober: probe.p, events: rec.e });
  const load = (ir: BackendIR) => {
    const prepared = registry.prepare([ir]);
    prepared.commit();
    const guard = prepared.guards.get(ir.id) as BackendGuard;
    return guard;
  };
  const guard = load(backendIR(cb, addresses));
  return { time, probe, rec, registry, guard, load };
}

const pools: Pool[] = [];
afterAll(async () => {
  for (const p of pools) await p.destroy();
});
function backendOf(guard: BackendGuard, origins = ORIGINS): GuardedBackend {
  return new GuardedBackend(
    guard.id,
    origins.map((origin) => {
      const pool = new Pool(origin);
      pools.push(pool);
      return { origin, pool };
    }),
    guard,
  );
}

describe('active health', () => {
  it('unknown counts as healthy; unhealthy after unhealthyThreshold failures; healthy again after healthyThreshold passes', () => {
    const { time, probe, guard, rec } = setup({ activeHealthCheck: HEALTH });
    const [a] = ORIGINS as [string];
    expect(guard.available(a)).toBe(true);
    probe.verdict.set(a, false);
    time.advance(1_000); // first probe at 0 (random 0), the next at 1000
    expect(guard.endpoints.get(a)?.health).toBe('unhealthy');
    expect(guard.available(a)).toBe(false);
    expect(guard.down).toBe(1);
    probe.verdict.set(a, true);
    time.advance(1_000);
    expect(guard.available(a)).toBe(false); // one pass of two
    time.advance(1_000);
    expect(guard.available(a)).toBe(true);
    expect(guard.down).toBe(0);
    expect(rec.events.filter((e) => e.endsWith(a))).toEqual([`unhealthy ${a}`, `healthy ${a}`]);
  });
});

describe('outlier ejection', () => {
  it('ejects after consecutive errors, re-admits after the ejection time, which grows with each ejection', () => {
    const { time, guard, rec } = setup({ outlierDetection: OUTLIER });
    const a = ORIGINS[0] as string;
    for (let i = 0; i < 3; i++) guard.observeGatewayError(a);
    expect(guard.available(a)).toBe(false);
    time.advance(999);
    expect(guard.available(a)).toBe(false);
    time.advance(1);
    expect(guard.available(a)).toBe(true);
    for (let i = 0; i < 3; i++) guard.observeStatus(a, 503);
    expect(rec.events).toEqual([`ejected ${a} consecutive_5xx 1000`, `readmitted ${a} ejection_time`, `ejected ${a} consecutive_5xx 2000`]);
  });

  it('never ejects more than maxEjectionPercent of the ready endpoints', () => {
    const { guard, rec } = setup({ outlierDetection: OUTLIER }); // 50 % of 4 = 2
    for (const origin of ORIGINS) for (let i = 0; i < 3; i++) guard.observeStatus(origin, 500);
    expect(ORIGINS.map((o) => guard.available(o))).toEqual([false, false, true, true]);
    expect(rec.events.filter((e) => e.startsWith('skipped'))).toHaveLength(2);
  });

  it('a health check that turns healthy again ends the ejection; a pass while healthy does not', () => {
    const { time, probe, guard, rec } = setup({ outlierDetection: { ...OUTLIER, baseEjectionTimeMs: 60_000 }, activeHealthCheck: HEALTH });
    const [a, b] = ORIGINS as [string, string];
    for (let i = 0; i < 3; i++) guard.observeStatus(b, 500); // ejected for its answers; its probes pass
    probe.verdict.set(a, false);
    for (let i = 0; i < 3; i++) guard.observeGatewayError(a); // ejected, and its probes fail
    time.advance(2_000);
    expect(guard.endpoints.get(a)?.health).toBe('unhealthy');
    probe.verdict.set(a, true);
    time.advance(2_000);
    expect(guard.available(a)).toBe(true);
    expect(guard.available(b)).toBe(false);
    expect(rec.events).toContain(`readmitted ${a} health_check`);
  });

  it('ejects by failure percentage at the end of an interval', () => {
    const { time, guard } = setup({
      outlierDetection: {
        ...OUTLIER,
        consecutive5xx: 1000,
        failurePercentage: { thresholdPercent: 50, minimumHosts: 3, requestVolume: 4 },
      },
    });
    const [a, b] = ORIGINS as [string, string];
    for (let i = 0; i < 4; i++) {
      guard.observeStatus(a, i % 2 ? 200 : 500);
      guard.observeStatus(b, 200);
    }
    expect(guard.available(a)).toBe(true);
    time.advance(10_000);
    expect(guard.available(a)).toBe(false);
    expect(guard.available(b)).toBe(true);
  });
});

describe('endpoint choice', () => {
  it('round robin over the ready endpoints that are up, never one already tried', () => {
    const { guard } = setup({ outlierDetection: OUTLIER });
    const backend = backendOf(guard);
    expect([1, 2, 3, 4, 5].map(() => backend.pick()?.origin)).toEqual([...ORIGINS, ORIGINS[0]]);
    for (let i = 0; i < 3; i++) guard.observeGatewayError(ORIGINS[1] as string);
    const picks = new Set(Array.from({ length: 8 }, () => backend.pick()?.origin));
    expect([...picks].sort()).toEqual([ORIGINS[0], ORIGINS[2], ORIGINS[3]]);
    expect(backend.pick([ORIGINS[0] as string, ORIGINS[2] as string])?.origin).toBe(ORIGINS[3]);
    expect(backend.pick([ORIGINS[0] as string, ORIGINS[2] as string, ORIGINS[3] as string])).toBeUndefined();
  });

  it('below the panic threshold sends to every ready endpoint; at or above it only to those up', () => {
    const { time, probe, guard } = setup({ activeHealthCheck: HEALTH, panicThresholdPercent: 50 });
    const backend = backendOf(guard);
    const spread = () => new Set(Array.from({ length: 8 }, () => backend.pick()?.origin)).size;
    probe.verdict.set(ORIGINS[0] as string, false);
    probe.verdict.set(ORIGINS[1] as string, false);
    time.advance(1_000);
    expect(guard.down).toBe(2);
    expect(spread()).toBe(2); // 2 of 4 up: 50 %, not below the threshold
    probe.verdict.set(ORIGINS[2] as string, false);
    time.advance(2_000);
    expect(guard.down).toBe(3);
    expect(spread()).toBe(4); // 1 of 4 up: panic, every ready endpoint
    expect(guard.view().panic).toBe(true);
  });

  it('with panic off and every endpoint down, there is nothing to send to', () => {
    const { time, probe, guard } = setup({ activeHealthCheck: HEALTH, panicThresholdPercent: 0 });
    const backend = backendOf(guard);
    for (const o of ORIGINS) probe.verdict.set(o, false);
    time.advance(1_000);
    expect(backend.pick()).toBeUndefined();
  });
});

const BREAKER = {
  failureStatusCodes: [500],
  countTimeouts: true,
  countConnectErrors: true,
  consecutiveFailures: 1,
  failureRatePercent: 50,
  window: { type: 'Count' as const, size: 10 },
  minimumCalls: 10,
  halfOpen: { maxProbes: 1, successThreshold: 1, probeTimeoutMs: 1_000 },
  openDuration: { baseMs: 10_000, maxMs: 10_000, multiplierPercent: 100, jitterPercent: 0 },
};

describe('registry across config reloads', () => {
  it('starts nothing before commit; abort leaves the running config as it was', () => {
    const time = new ManualTime(0);
    const probe = prober();
    const registry = new BackendGuardRegistry({ clock: time, timers: time, random: () => 0, prober: probe.p, events: NO_EVENTS });
    const prepared = registry.prepare([backendIR({ activeHealthCheck: HEALTH })]);
    time.advance(5_000);
    expect(probe.probes).toEqual([]);
    prepared.abort();
    expect(registry.size).toBe(0);
    const next = registry.prepare([backendIR({ activeHealthCheck: HEALTH }, ['10.0.0.1'])]);
    next.commit();
    time.advance(1_000);
    expect(probe.probes.length).toBeGreaterThan(0);
    const before = probe.probes.length;
    registry.prepare([backendIR({ activeHealthCheck: HEALTH }, ['10.0.0.9'])]).abort();
    time.advance(1_000);
    expect(probe.probes.slice(before).every((o) => o === 'http://10.0.0.1:80')).toBe(true);
  });

  it('a new config with the same settings keeps the breaker, the ejections and the health; an endpoint that left stops being probed', () => {
    const outlier = { ...OUTLIER, baseEjectionTimeMs: 60_000 };
    const { time, probe, guard, load } = setup({ breaker: BREAKER, outlierDetection: outlier, activeHealthCheck: HEALTH });
    const breaker = guard.breaker;
    breaker?.record(breaker.acquire(), true, false);
    expect(breaker?.state).toBe('open');
    for (let i = 0; i < 3; i++) guard.observeGatewayError(ORIGINS[0] as string);
    probe.verdict.set(ORIGINS[1] as string, false);
    time.advance(1_000);
    expect(guard.down).toBe(2);

    // The EndpointSlice loses 10.0.0.4; everything else is the same.
    const next = load(
      backendIR({ breaker: BREAKER, outlierDetection: outlier, activeHealthCheck: HEALTH }, ['10.0.0.1', '10.0.0.2', '10.0.0.3']),
    );
    expect(next).not.toBe(guard);
    expect(next.breaker).toBe(breaker);
    expect(next.breaker?.acquire()).toBe(REJECTED);
    expect(next.available(ORIGINS[0] as string)).toBe(false);
    expect(next.endpoints.get(ORIGINS[1] as string)?.health).toBe('unhealthy');
    expect(next.down).toBe(2);
    const before = probe.probes.length;
    time.advance(3_000);
    const later = probe.probes.slice(before);
    expect(later).not.toContain(ORIGINS[3]);
    expect(new Set(later)).toEqual(new Set(ORIGINS.slice(0, 3)));
    // Each endpoint is probed by one loop: about one probe per interval, not two.
    expect(later.filter((o) => o === ORIGINS[0]).length).toBeLessThanOrEqual(3);
    // The adopted health loop reports to the new guard.
    probe.verdict.set(ORIGINS[1] as string, true);
    time.advance(2_000);
    expect(next.available(ORIGINS[1] as string)).toBe(true);
  });

  it('changed settings start over: a fresh breaker, ejections ended', () => {
    const { time, guard, load } = setup({ breaker: BREAKER, outlierDetection: OUTLIER });
    guard.breaker?.record(guard.breaker.acquire(), true, false);
    for (let i = 0; i < 3; i++) guard.observeGatewayError(ORIGINS[0] as string);
    const next = load(backendIR({ breaker: { ...BREAKER, minimumCalls: 20 }, outlierDetection: { ...OUTLIER, consecutive5xx: 4 } }));
    expect(next.breaker?.state).toBe('closed');
    expect(next.available(ORIGINS[0] as string)).toBe(true);
    expect(next.down).toBe(0);
    time.advance(100_000); // the old ejection timer is gone: nothing fires into the new guard
    expect(next.down).toBe(0);
  });

  it('a backend that leaves the config stops its loops', () => {
    const { time, probe, registry } = setup({ activeHealthCheck: HEALTH });
    time.advance(1_000);
    registry.prepare([]).commit();
    const before = probe.probes.length;
    time.advance(10_000);
    expect(probe.probes.length).toBe(before);
    expect(registry.view()).toEqual([]);
  });
});

describe('view', () => {
  it('shows every endpoint with readiness, health, ejection and whether it receives traffic', () => {
    const ir = backendIR({ outlierDetection: OUTLIER });
    const notReady = { ...ir, endpoints: ir.endpoints.map((e, i) => (i === 3 ? { ...e, ready: false } : e)) };
    const { registry, load } = setup(undefined);
    const guard = load(notReady);
    for (let i = 0; i < 3; i++) guard.observeGatewayError(ORIGINS[0] as string);
    const [view] = registry.view();
    expect(view?.policy).toBe('ns/cb');
    expect(view?.endpoints.map((e) => [e.address, e.ready, e.ejected, e.receivesTraffic])).toEqual([
      ['10.0.0.1', true, true, false],
      ['10.0.0.2', true, false, true],
      ['10.0.0.3', true, false, true],
      ['10.0.0.4', false, false, false],
    ]);
    expect(view?.endpoints[0]?.ejection).toEqual({ reason: 'consecutive_5xx', remainingMs: 1_000 });
  });
});
