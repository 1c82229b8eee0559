import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { cellCounter } from './cells.js';

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
