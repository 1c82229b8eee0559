import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { compileHotspotGuard, hotspotCapacity, type HotspotGuard } from './guard.js';
import type { HotspotIR, HotValue } from './types.js';
import { credentialValueKey, hotspotValueKey, isCredentialParameter } from './value.js';

function hotspotIR(over: Partial<HotspotIR> = {}): HotspotIR {
  return {
    parameters: [{ source: 'Tenant' }],
    windowMs: 10_000,
    topK: 5,
    minRequests: 50,
    activateSharePercent: 30,
    deactivateSharePercent: 15,
    cooldownMs: 5_000,
    limit: { algorithm: 'TokenBucket', limit: 5, periodMs: 1000 },
    mode: 'Enforce',
    source: { kind: 'RateLimitPolicy', namespace: 'jarvis', name: 'chat-limits', generation: 1 },
    ...over,
  };
}

const tenant = (value: string): HotValue[] => [{ parameter: 'Tenant', value }];
const isHot = (hot: readonly HotValue[], parameter: string, value: string): boolean =>
  hot.some((h) => h.parameter === parameter && h.value === value);

/**
 * Sends `rps` requests per second for `ms`, evenly spaced; `pick(i)` gives the values of the i-th
 * request. Returns each request's hot values with its time.
 */
interface Sent {
  readonly at: number;
  readonly values: readonly HotValue[];
  readonly hot: readonly HotValue[];
}

function drive(time: ManualTime, guard: HotspotGuard, ms: number, rps: number, pick: (i: number) => HotValue[]): Sent[] {
  const out: Sent[] = [];
  const n = Math.round((ms * rps) / 1000);
  const step = ms / n;
  let elapsed = 0;
  for (let i = 0; i < n; i++) {
    const next = Math.round((i + 1) * step);
    time.advance(next - elapsed);
    elapsed = next;
    const values = pick(i);
    out.push({ at: time.now(), values, hot: guard.observe(guard.routeId, values) });
  }
  return out;
}

/** Spreads `k` of every `n` requests evenly (Bresenham), so a value's share is smooth. */
const every =
  (k: number, n: number) =>
  (i: number): boolean =>
    Math.floor((((i % n) + 1) * k) / n) > Math.floor(((i % n) * k) / n);

/** Ten ordinary tenants taking turns. */
const background = (i: number): HotValue[] => tenant(`t${i % 10}`);

describe('HotspotGuard: hot values', () => {
  it('a flooding tenant turns hot within the window, is listed in topK, and cools after the flood', () => {
    const time = new ManualTime();
    const guard = compileHotspotGuard('route-chat', hotspotIR(), { clock: time });
    // A minute of ordinary traffic: 20 rps over ten tenants (10 % each), nothing is hot.
    expect(drive(time, guard, 60_000, 20, background).every((r) => r.hot.length === 0)).toBe(true);
    expect(guard.topK().every((e) => !e.hot)).toBe(true);

    // Tenant "flood" adds 60 rps (75 % of the route).
    const floodStart = time.now();
    const flood = drive(time, guard, 20_000, 80, (i) => (i % 4 === 0 ? background(i / 4) : tenant('flood')));
    const firstHot = flood.find((r) => isHot(r.hot, 'Tenant', 'flood'));
    expect(firstHot).toBeDefined();
    expect((firstHot?.at ?? Infinity) - floodStart).toBeLessThan(3_000); // well within the 10 s window
    // Ordinary tenants never turned hot, and only the flood's requests report it.
    expect(flood.some((r) => r.hot.some((h) => h.value !== 'flood'))).toBe(false);

    const top = guard.topK();
    expect(top[0]).toMatchObject({ routeId: 'route-chat', parameter: 'Tenant', value: 'flood', hot: true, since: firstHot?.at });
    expect(top[0]?.share).toBeGreaterThan(0.6);
    expect(top[0]?.estimatedRate).toBeGreaterThan(45);
    expect(top[0]?.estimatedRate).toBeLessThan(61);
    expect(top.filter((e) => e.parameter === 'Tenant')).toHaveLength(5); // topK lines per parameter
    expect(top.filter((e) => e.hot)).toHaveLength(1);

    // The flood stops; the tenant sends one request a second among the ordinary traffic.
    const stop = time.now();
    let cooledAt: number | undefined;
    for (let s = 0; s < 60 && cooledAt === undefined; s++) {
      drive(time, guard, 1_000, 20, background);
      if (!guard.observe('route-chat', tenant('flood')).length) cooledAt = time.now();
    }
    expect(cooledAt).toBeDefined();
    // Not before the cooldown, and not while its share is still above deactivateSharePercent (~27 s here).
    expect((cooledAt ?? 0) - stop).toBeGreaterThan(20_000);
    expect((cooledAt ?? 0) - stop).toBeLessThan(40_000);
    const line = guard.topK().find((e) => e.value === 'flood');
    expect(line).toMatchObject({ hot: false, since: null });
  });

  it('hysteresis: a share between the thresholds keeps a hot value hot, and one below activation never turns hot', () => {
    const time = new ManualTime();
    const guard = compileHotspotGuard('r', hotspotIR(), { clock: time });
    const mixed = (k: number) => {
      const x = every(k, 20);
      return (i: number): HotValue[] => (x(i) ? tenant('X') : background(i));
    };
    /** How often X's requests changed between hot and not hot. */
    const transitions = (runs: Sent[][]): number => {
      let last = false;
      let n = 0;
      for (const run of runs)
        for (const r of run) {
          if (!isHot(r.values, 'Tenant', 'X')) continue;
          const h = isHot(r.hot, 'Tenant', 'X');
          if (h !== last) n++;
          last = h;
        }
      return n;
    };
    const warm = drive(time, guard, 30_000, 20, mixed(10)); // 50 %: turns hot
    const hover = drive(time, guard, 120_000, 20, mixed(5)); // 25 %: between 15 % and 30 %
    const xHover = hover.filter((r) => isHot(r.values, 'Tenant', 'X'));
    expect(xHover.length).toBe(600); // 25 % of 2,400 requests
    expect(xHover.every((r) => isHot(r.hot, 'Tenant', 'X'))).toBe(true);
    expect(guard.topK()[0]).toMatchObject({ value: 'X', hot: true });
    const cool = drive(time, guard, 60_000, 20, mixed(2)); // 10 %: cools once
    expect(transitions([warm, hover, cool])).toBe(2); // on once, off once: no flapping

    const other = compileHotspotGuard('r2', hotspotIR(), { clock: time });
    const near = drive(time, other, 120_000, 20, (i) => (every(56, 200)(i) ? tenant('Y') : background(i))); // 28 %
    expect(near.some((r) => r.hot.length > 0)).toBe(false);
  });

  it('respects minRequests: a value with the whole share of a quiet route is not hot', () => {
    const time = new ManualTime();
    const guard = compileHotspotGuard('r', hotspotIR({ minRequests: 500 }), { clock: time });
    // 20 rps ≈ 200 requests per 10 s window, below 500.
    expect(drive(time, guard, 60_000, 20, () => tenant('solo')).some((r) => r.hot.length > 0)).toBe(false);
    expect(guard.topK()[0]).toMatchObject({ value: 'solo', hot: false });
    // 100 rps ≈ 1,000 per window: now it is hot.
    const busy = drive(time, guard, 20_000, 100, () => tenant('solo'));
    expect(busy.at(-1)?.hot).toEqual(tenant('solo'));
  });

  it('a quiet route cools its hot values through minRequests (a share alone does not decay)', () => {
    const time = new ManualTime();
    const guard = compileHotspotGuard('r', hotspotIR(), { clock: time });
    drive(time, guard, 20_000, 50, () => tenant('only'));
    expect(guard.topK()[0]?.hot).toBe(true);
    time.advance(60_000); // no traffic at all: the window empties
    expect(guard.topK()[0]).toMatchObject({ value: 'only', hot: false, since: null });
  });

  it('watches several parameters independently and ignores unknown ones', () => {
    const time = new ManualTime();
    const ir = hotspotIR({ parameters: [{ source: 'Tenant' }, { source: 'Header', name: 'X-Model' }] });
    const guard = compileHotspotGuard('r', ir, { clock: time });
    expect(guard.parameters).toEqual(['Tenant', 'Header:x-model']);
    const runs = drive(time, guard, 20_000, 50, (i) => [
      { parameter: 'Tenant', value: `t${i % 10}` },
      { parameter: 'Header:x-model', value: 'gpt-4' },
      { parameter: 'Query:unwatched', value: 'q' },
    ]);
    expect(runs.at(-1)?.hot).toEqual([{ parameter: 'Header:x-model', value: 'gpt-4' }]);
    expect(guard.summarySize('Query:unwatched')).toBe(0);
  });

  it('reports long or odd values under their bounded key', () => {
    const time = new ManualTime();
    const guard = compileHotspotGuard('r', hotspotIR(), { clock: time });
    const long = 'k'.repeat(5_000);
    const runs = drive(time, guard, 20_000, 50, () => tenant(long));
    const hot = runs.at(-1)?.hot[0];
    expect(hot?.value).toMatch(/^#sha256:/);
    expect(guard.topK()[0]?.value).toBe(hot?.value);
  });

  it('returns the same empty result without allocating when nothing is hot', () => {
    const time = new ManualTime();
    const guard = compileHotspotGuard('r', hotspotIR(), { clock: time });
    expect(guard.observe('r', tenant('a'))).toBe(guard.observe('r', tenant('b')));
  });

  it('memory is bounded: 1M distinct values leave the summary at its capacity, and a 10 % heavy hitter is still found', () => {
    const time = new ManualTime();
    const ir = hotspotIR({ parameters: [{ source: 'ClientIP' }], activateSharePercent: 5, deactivateSharePercent: 2 });
    const guard = compileHotspotGuard('r', ir, { clock: time });
    const capacity = hotspotCapacity(ir);
    expect(guard.capacity).toBe(capacity);
    let heavyHot = 0;
    // A scan of 1M distinct client IPs (one request per ms, i.e. 100 windows: the decay
    // weights are rescaled on the way) with one address in every 10 requests.
    for (let i = 0; i < 1_000_000; i++) {
      time.advance(1);
      const ip = i % 10 === 0 ? '203.0.113.7' : `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}/${i}`;
      if (guard.observe('r', [{ parameter: 'ClientIP', value: ip }]).length) heavyHot++;
    }
    expect(guard.summarySize('ClientIP')).toBeLessThanOrEqual(capacity);
    expect(guard.hotCount('ClientIP')).toBe(1);
    expect(heavyHot).toBeGreaterThan(99_000);
    const top = guard.topK();
    expect(top.length).toBeLessThanOrEqual(ir.topK);
    expect(top[0]).toMatchObject({ value: '203.0.113.7', hot: true });
    expect(top[0]?.share).toBeGreaterThan(0.08);
    expect(top[0]?.share).toBeLessThanOrEqual(0.1 + 1e-9);
    expect(top.every((e) => Number.isFinite(e.share) && Number.isFinite(e.estimatedRate))).toBe(true);
  });

  it('bounds capacity by configuration and refuses inverted thresholds', () => {
    expect(hotspotCapacity({ topK: 5, activateSharePercent: 30 })).toBe(64);
    expect(hotspotCapacity({ topK: 50, activateSharePercent: 30 })).toBe(400);
    expect(hotspotCapacity({ topK: 5, activateSharePercent: 1 })).toBe(400);
    expect(hotspotCapacity({ topK: 10_000, activateSharePercent: 1 })).toBe(1024);
    expect(() =>
      compileHotspotGuard('r', hotspotIR({ activateSharePercent: 10, deactivateSharePercent: 20 }), { clock: new ManualTime() }),
    ).toThrow(RangeError);
  });

  it('Shadow mode is visible to the pipeline', () => {
    const time = new ManualTime();
    expect(compileHotspotGuard('r', hotspotIR(), { clock: time }).enforced).toBe(true);
    expect(compileHotspotGuard('r', hotspotIR({ mode: 'Shadow' }), { clock: time }).enforced).toBe(false);
  });

  it('tolerates a clock that steps backwards', () => {
    const time = new ManualTime();
    let offset = 0;
    const clock = { now: () => time.now() - offset };
    const guard = compileHotspotGuard('r', hotspotIR(), { clock });
    drive(time, guard, 5_000, 50, () => tenant('a'));
    offset = 60_000;
    expect(() => guard.observe('r', tenant('a'))).not.toThrow();
    expect(guard.topK().every((e) => Number.isFinite(e.share))).toBe(true);
  });
});

describe('HotspotGuard: credentials', () => {
  it('counts and reports a credential-like header or query parameter by digest only', () => {
    const time = new ManualTime();
    const guard = compileHotspotGuard(
      'jarvis/chat/rule-0',
      hotspotIR({
        parameters: [
          { source: 'Header', name: 'X-API-Key' },
          { source: 'Query', name: 'access_token' },
          { source: 'Header', name: 'x-tier' },
        ],
      }),
      { clock: time },
    );
    const secret = 'sk-live-abcdef0123456789';
    const sent = drive(time, guard, 10_000, 20, (i) => [
      { parameter: 'Header:x-api-key', value: i % 2 === 0 ? secret : `other-${i % 7}` },
      { parameter: 'Query:access_token', value: 'tok-secret' },
      { parameter: 'Header:x-tier', value: 'gold' },
    ]);
    const hot = sent.at(-2)!.hot; // a request carrying the hot key (every other one)
    expect(hot.map((h) => h.parameter).sort()).toEqual(['Header:x-api-key', 'Header:x-tier', 'Query:access_token']);
    const lines = guard.topK();
    const shown = JSON.stringify([hot, lines]);
    expect(shown).not.toContain('sk-live');
    expect(shown).not.toContain('other-');
    expect(shown).not.toContain('tok-secret');
    expect(lines.find((l) => l.parameter === 'Header:x-tier')?.value).toBe('gold');
    const keyLine = lines.find((l) => l.parameter === 'Header:x-api-key' && l.hot);
    expect(keyLine?.value).toBe(credentialValueKey(secret));
    expect(keyLine?.value).toMatch(/^#cred:[A-Za-z0-9_-]{22}$/);
    expect(hot.find((h) => h.parameter === 'Header:x-api-key')?.value).toBe(credentialValueKey(secret));
  });

  it('a value that poses as a digest is hashed as an ordinary value', () => {
    expect(hotspotValueKey('#cred:abc')).toMatch(/^#sha256:/);
    expect(isCredentialParameter('Header:authorization')).toBe(true);
    expect(isCredentialParameter('Header:cookie')).toBe(true);
    expect(isCredentialParameter('Tenant')).toBe(false);
    expect(isCredentialParameter('Header:x-tier')).toBe(false);
  });
});
