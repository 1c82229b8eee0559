/**
 * Passive outlier detection of a backend's endpoints (CircuitBreakerPolicy `outlierDetection`),
 * the rules only: which outcome or which interval's figures eject which endpoint, and for how
 * long. The endpoint states that carry the counters and the ejections live in endpoint.ts.
 *
 * - consecutive5xx: that many 5xx answers or gateway errors (connection refused or reset,
 *   timeout) in a row; consecutiveGatewayErrors: that many 502/503/504 or gateway errors in a row.
 *   Any other answer resets both runs. Checked on every outcome.
 * - At the end of each interval: success rate (endpoints with requestVolume calls, when at least
 *   minimumHosts have them: eject those below mean − stdevFactor × σ) and failure percentage
 *   (when the backend has minimumHosts endpoints: eject those with requestVolume calls whose
 *   failure share reaches thresholdPercent). Then the interval's counts start again.
 * - The ejection time is base × (times ejected), at most max; an endpoint's count of ejections
 *   drops by one for each interval it spends admitted.
 */
import type { OutlierDetectionIR } from '@jarvis/api';

export type EjectionReason = 'consecutive_5xx' | 'consecutive_gateway_errors' | 'success_rate' | 'failure_percentage';

/** How one call to an endpoint ended, as outlier detection sees it. */
export type OutlierOutcome =
  /** An answer below 500. */
  | 'ok'
  /** 500, 501, 505…: counts towards consecutive5xx only. */
  | '5xx'
  /** 502, 503, 504: towards both runs. */
  | 'gateway-5xx'
  /** Connection refused or reset, timeout: towards both runs. */
  | 'gateway-error';

/** The counters outlier detection keeps per endpoint. */
export interface OutlierStats {
  consecutive5xx: number;
  consecutiveGateway: number;
  intervalCalls: number;
  intervalFailures: number;
  ejected: boolean;
  timesEjected: number;
}

export function outlierOutcome(status: number): OutlierOutcome {
  if (status < 500) return 'ok';
  return status === 502 || status === 503 || status === 504 ? 'gateway-5xx' : '5xx';
}

export class OutlierRules {
  constructor(readonly ir: OutlierDetectionIR) {}

  /** Counts one outcome; the reason it ejects the endpoint for, if it does. */
  observe(s: OutlierStats, outcome: OutlierOutcome): EjectionReason | undefined {
    s.intervalCalls++;
    if (outcome === 'ok') {
      s.consecutive5xx = 0;
      s.consecutiveGateway = 0;
      return undefined;
    }
    s.intervalFailures++;
    s.consecutive5xx++;
    if (outcome !== '5xx') s.consecutiveGateway++;
    else s.consecutiveGateway = 0;
    if (s.ejected) return undefined;
    const gw = this.ir.consecutiveGatewayErrors;
    if (gw !== undefined && s.consecutiveGateway >= gw) return 'consecutive_gateway_errors';
    if (s.consecutive5xx >= this.ir.consecutive5xx) return 'consecutive_5xx';
    return undefined;
  }

  /**
   * The end of an interval: the endpoints (indexes into `all`) to eject and why, by success rate
   * and failure percentage over the interval's counts; then the counts start again, and the
   * ejection count of every admitted endpoint drops by one.
   */
  evaluate(all: readonly OutlierStats[]): { index: number; reason: EjectionReason }[] {
    const out: { index: number; reason: EjectionReason }[] = [];
    const picked = new Set<number>();
    const sr = this.ir.successRate;
    if (sr) {
      const rates: { index: number; rate: number }[] = [];
      all.forEach((s, index) => {
        if (!s.ejected && s.intervalCalls >= sr.requestVolume)
          rates.push({ index, rate: (s.intervalCalls - s.intervalFailures) / s.intervalCalls });
      });
      if (rates.length >= sr.minimumHosts && rates.length > 0) {
        const mean = rates.reduce((n, r) => n + r.rate, 0) / rates.length;
        const sd = Math.sqrt(rates.reduce((n, r) => n + (r.rate - mean) ** 2, 0) / rates.length);
        const floor = mean - (sr.stdevFactorPercent / 100) * sd;
        for (const r of rates)
          if (r.rate < floor) {
            out.push({ index: r.index, reason: 'success_rate' });
            picked.add(r.index);
          }
      }
    }
    const fp = this.ir.failurePercentage;
    if (fp && all.length >= fp.minimumHosts) {
      all.forEach((s, index) => {
        if (s.ejected || picked.has(index) || s.intervalCalls < fp.requestVolume) return;
        if (s.intervalFailures * 100 >= fp.thresholdPercent * s.intervalCalls) {
          out.push({ index, reason: 'failure_percentage' });
          picked.add(index);
        }
      });
    }
    all.forEach((s, index) => {
      s.intervalCalls = 0;
      s.intervalFailures = 0;
      if (!s.ejected && !picked.has(index) && s.timesEjected > 0) s.timesEjected--;
    });
    return out;
  }

  /** How long the `times`-th ejection lasts. */
  ejectionMs(times: number): number {
    return Math.min(this.ir.maxEjectionTimeMs, this.ir.baseEjectionTimeMs * Math.max(1, times));
  }

  /** Most endpoints of `n` that may be ejected at once: maxEjectionPercent of them, at least one, never all. */
  maxEjected(n: number): number {
    if (n <= 1 || this.ir.maxEjectionPercent === 0) return 0;
    return Math.min(n - 1, Math.max(1, Math.floor((n * this.ir.maxEjectionPercent) / 100)));
  }
}
