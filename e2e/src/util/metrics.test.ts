import { describe, expect, it } from 'vitest';
import { metricSum } from './metrics.js';

const exposition = `# HELP x_total x
# TYPE x_total counter
x_total{route="a",status="200"} 3
x_total{route="a",status="429"} 2
x_total{route="b",status="200"} 5 1732608000000
x_total_other 100
y 7
`;

describe('metricSum', () => {
  it('sums the samples of one metric that carry the given labels', () => {
    expect(metricSum(exposition, 'x_total')).toBe(10);
    expect(metricSum(exposition, 'x_total', { route: 'a' })).toBe(5);
    expect(metricSum(exposition, 'x_total', { route: 'a', status: '429' })).toBe(2);
    expect(metricSum(exposition, 'y')).toBe(7);
  });

  it('is undefined when nothing matches', () => {
    expect(metricSum(exposition, 'x')).toBeUndefined();
    expect(metricSum(exposition, 'x_total', { route: 'c' })).toBeUndefined();
  });
});
