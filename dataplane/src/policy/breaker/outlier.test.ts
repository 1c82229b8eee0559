/** Outlier detection's rules: consecutive runs, success rate, failure percentage, ejection times and the ejection cap. */
import type { OutlierDetectionIR } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { OutlierRules, outlierOutcome, type OutlierStats } from './outlier.js';

const base: OutlierDetectionIR = {
  intervalMs: 10_000,
  consecutive5xx: 5,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 100_000,
  maxEjectionPercent: 10,
};

const stats = (calls = 0, failures = 0): OutlierStats => ({
  consecutive5xx: 0,
  consecutiveGateway: 0,
  intervalCalls: calls,
  intervalFailures: failures,
  ejected: false,
  timesEjected: 0,
});

describe('outlier rules', () => {
  it('classifies statuses', () => {
    expect([200, 404, 429, 500, 501, 502, 503, 504].map(outlierOutcome)).toEqual([
      'ok',
      'ok',
      'ok',
      '5xx',
      '5xx',
      'gateway-5xx',
      'gateway-5xx',
      'gateway-5xx',
    ]);
  });

  it('ejects after consecutive 5xx (gateway errors count too); an answer below 500 resets the run', () => {
    const rules = new OutlierRules(base);
    const s = stats();
    for (let i = 0; i < 4; i++) expect(rules.observe(s, i % 2 ? '5xx' : 'gateway-error')).toBeUndefined();
    expect(rules.observe(s, 'ok')).toBeUndefined();
    for (let i = 0; i < 4; i++) expect(rules.observe(s, '5xx')).toBeUndefined();
    expect(rules.observe(s, 'gateway-5xx')).toBe('consecutive_5xx');
  });

  it('ejects after consecutive gateway errors when set; a plain 500 breaks that run', () => {
    const rules = new OutlierRules({ ...base, consecutiveGatewayErrors: 3 });
    const s = stats();
    rules.observe(s, 'gateway-error');
    rules.observe(s, 'gateway-5xx');
    rules.observe(s, '5xx');
    expect(s.consecutiveGateway).toBe(0);
    rules.observe(s, 'gateway-error');
    rules.observe(s, 'gateway-error');
    expect(rules.observe(s, 'gateway-error')).toBe('consecutive_gateway_errors');
  });

  it('an ejected endpoint is not ejected again', () => {
    const rules = new OutlierRules({ ...base, consecutive5xx: 1 });
    const s = { ...stats(), ejected: true };
    expect(rules.observe(s, '5xx')).toBeUndefined();
  });

  it('success rate: ejects endpoints below mean − factor × σ, only with enough endpoints of enough volume', () => {
    const rules = new OutlierRules({ ...base, successRate: { minimumHosts: 3, requestVolume: 10, stdevFactorPercent: 100 } });
    // rates 1.0, 1.0, 1.0, 0.5: mean 0.875, σ ≈ 0.2165 → floor ≈ 0.658
    const all = [stats(100, 0), stats(100, 0), stats(100, 0), stats(100, 50), stats(5, 5)];
    expect(rules.evaluate(all)).toEqual([{ index: 3, reason: 'success_rate' }]);
    expect(all.every((s) => s.intervalCalls === 0 && s.intervalFailures === 0)).toBe(true); // a new interval

    const few = [stats(100, 0), stats(100, 50), stats(5, 5)]; // two endpoints with volume: fewer than minimumHosts
    expect(rules.evaluate(few)).toEqual([]);
  });

  it('failure percentage: ejects endpoints at the threshold, only on backends with minimumHosts endpoints', () => {
    const rules = new OutlierRules({ ...base, failurePercentage: { thresholdPercent: 50, minimumHosts: 3, requestVolume: 10 } });
    expect(rules.evaluate([stats(10, 5), stats(10, 4), stats(9, 9)])).toEqual([{ index: 0, reason: 'failure_percentage' }]);
    expect(rules.evaluate([stats(10, 5), stats(10, 4)])).toEqual([]);
  });

  it('ejection time grows with the number of ejections, capped; the count drops by one per admitted interval', () => {
    const rules = new OutlierRules(base);
    expect([1, 2, 3, 4].map((n) => rules.ejectionMs(n))).toEqual([30_000, 60_000, 90_000, 100_000]);
    const admitted = { ...stats(), timesEjected: 2 };
    const ejected = { ...stats(), timesEjected: 2, ejected: true };
    rules.evaluate([admitted, ejected]);
    expect([admitted.timesEjected, ejected.timesEjected]).toEqual([1, 2]);
  });

  it('caps ejections at maxEjectionPercent, at least one, never every endpoint', () => {
    const at = (pct: number) => new OutlierRules({ ...base, maxEjectionPercent: pct });
    expect([1, 2, 3, 10, 20].map((n) => at(10).maxEjected(n))).toEqual([0, 1, 1, 1, 2]);
    expect([2, 3, 4].map((n) => at(100).maxEjected(n))).toEqual([1, 2, 3]);
    expect(at(0).maxEjected(10)).toBe(0);
  });
});
