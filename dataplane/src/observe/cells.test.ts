import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OVERFLOW_LABEL, cellCounter, cellHistogram } from './cells.js';

async function values(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const out: Record<string, number> = {};
  for (const v of (await metric.get()).values) out[Object.values(v.labels).join('/')] = v.value;
  return out;
}

describe('cellCounter', () => {
  it('folds the increments of each label set into the counter when it is scraped', async () => {
    const registry = new Registry();
    const c = cellCounter({ name: 'x_total', help: 'x', labelNames: ['route', 'status'], registry });
    const ok = c.cell('r1', '200');
    ok.inc();
    ok.inc(2);
    c.cell('r1', '429').inc();
    expect(c.cell('r1', '200')).toBe(ok); // one cell per label set
    expect(await values(registry, 'x_total')).toEqual({ 'r1/200': 3, 'r1/429': 1 });
    ok.inc();
    expect(await values(registry, 'x_total')).toEqual({ 'r1/200': 4, 'r1/429': 1 }); // no double counting
    expect(await registry.metrics()).toContain('x_total{route="r1",status="200"} 4');
  });

  it('keeps at most 10,000 cells and counts beyond them directly', async () => {
    const registry = new Registry();
    const c = cellCounter({ name: 'y_total', help: 'y', labelNames: ['k'], registry });
    for (let i = 0; i < 10_005; i++) c.cell(String(i)).inc();
    const v = await values(registry, 'y_total');
    expect(Object.keys(v)).toHaveLength(10_005);
    expect(v['10004']).toBe(1);
    expect(v['0']).toBe(1);
  });
});

describe('cellHistogram', () => {
  const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1];

  it('exposes exactly what a prom-client Histogram given the same observations exposes', async () => {
    const mine = new Registry();
    const theirs = new Registry();
    const h = cellHistogram({ name: 'd_seconds', help: 'd', labelNames: ['route', 'code'], buckets, registry: mine });
    const ref = new Histogram({ name: 'd_seconds', help: 'd', labelNames: ['route', 'code'], buckets, registers: [theirs] });
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 5000; i++) {
      const route = `r${i % 3}`;
      const code = i % 5 === 0 ? '429' : '200';
      // Values across every bucket, on the bounds themselves, and above the last one.
      const v = i % 97 === 0 ? (buckets[i % buckets.length] as number) : random() ** 3 * 2;
      h.cell(route, code).observe(v);
      ref.labels(route, code).observe(v);
    }
    const lines = (text: string): string[] =>
      text
        .split('\n')
        .filter((l) => l.startsWith('d_seconds'))
        .sort();
    const got = lines(await mine.metrics());
    expect(got.length).toBe(6 * (buckets.length + 3));
    // Sums are added in the same order, so even they agree to the last digit.
    expect(got).toEqual(lines(await theirs.metrics()));
    const json = (await h.histogram.get()).values.find(
      (v) => v.metricName === 'd_seconds_count' && v.labels.route === 'r1' && v.labels.code === '200',
    );
    expect(json?.value).toBe(
      (await ref.get()).values.find((v) => v.metricName === 'd_seconds_count' && v.labels.route === 'r1' && v.labels.code === '200')?.value,
    );
  });

  it('counts cumulatively across scrapes, ignores non-finite values, and resets with the registry', async () => {
    const registry = new Registry();
    const h = cellHistogram({ name: 'e_seconds', help: 'e', labelNames: ['route'], buckets, registry });
    const c = h.cell('r');
    expect(h.cell('r')).toBe(c);
    c.observe(0.002);
    c.observe(Number.NaN);
    expect(await registry.metrics()).toContain('e_seconds_count{route="r"} 1');
    c.observe(0.0001);
    const text = await registry.metrics();
    expect(text).toContain('e_seconds_count{route="r"} 2');
    expect(text).toContain('e_seconds_bucket{le="0.0005",route="r"} 1');
    expect(text).toContain('e_seconds_bucket{le="0.0025",route="r"} 2');
    registry.resetMetrics();
    expect(await registry.metrics()).toContain('e_seconds_count{route="r"} 0');
  });

  it('keeps at most 10,000 label sets; the rest share one cell labelled _other', async () => {
    const registry = new Registry();
    const h = cellHistogram({ name: 'f_seconds', help: 'f', labelNames: ['route'], buckets, registry });
    for (let i = 0; i < 10_003; i++) h.cell(String(i)).observe(0.001);
    const text = await registry.metrics();
    expect(text.split('\n').filter((l) => l.startsWith('f_seconds_count'))).toHaveLength(10_001);
    expect(text).toContain(`f_seconds_count{route="${OVERFLOW_LABEL}"} 3`);
    expect(text).toContain('f_seconds_count{route="9999"} 1');
  });
});

describe('cells without labels', () => {
  it('a counter and a histogram with no label names have one cell each', async () => {
    const registry = new Registry();
    const c = cellCounter({ name: 'g_total', help: 'g', labelNames: [], registry });
    const h = cellHistogram({ name: 'g_seconds', help: 'g', labelNames: [], buckets: [0.1, 1], registry });
    c.cell().inc();
    c.cell().inc(2);
    h.cell().observe(0.5);
    expect(h.cell()).toBe(h.cell());
    const text = await registry.metrics();
    expect(text).toContain('g_total 3');
    expect(text).toContain('g_seconds_bucket{le="1"} 1');
    expect(text).toContain('g_seconds_count 1');
  });
});
