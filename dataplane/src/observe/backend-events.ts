/**
 * What the backends' guards report (policy/breaker/events.ts) into metrics and the log: breaker
 * transitions and ejections at warn (they change where traffic goes), re-admissions and recovered
 * health at info, each probe and retry only as a metric.
 */
import type { Logger } from '@jarvis/api';
import type { BackendEvents } from '../policy/breaker/index.js';
import type { GatewayMetrics } from './metrics.js';

export function backendEvents(metrics: GatewayMetrics, log: Logger): BackendEvents {
  return {
    breakerTransition(backend, from, to) {
      metrics.breakerTransitions.inc({ backend, from, to });
      if (to === 'open') log.warn('circuit breaker open', { backend, from });
      else log.info(`circuit breaker ${to === 'closed' ? 'closed' : 'half-open'}`, { backend });
    },
    breakerRejected(backend) {
      metrics.breakerRejected.cell(backend).inc();
    },
    ejected(backend, endpoint, reason, ms) {
      metrics.ejections.inc({ backend, reason, result: 'ejected' });
      log.warn('endpoint ejected', { backend, endpoint, reason, ms: Math.round(ms) });
    },
    ejectionSkipped(backend, _endpoint, reason) {
      metrics.ejections.inc({ backend, reason, result: 'skipped' });
    },
    readmitted(backend, endpoint, reason) {
      metrics.readmissions.inc({ backend, reason });
      log.info('endpoint re-admitted', { backend, endpoint, reason });
    },
    probed(backend, _endpoint, passed) {
      metrics.healthChecks.cell(backend, passed ? 'pass' : 'fail').inc();
    },
    healthChanged(backend, endpoint, healthy) {
      if (healthy) log.info('endpoint healthy', { backend, endpoint });
      else log.warn('endpoint unhealthy', { backend, endpoint });
    },
    retried(backend, reason) {
      metrics.retries.cell(backend, reason).inc();
    },
    budgetExhausted(backend) {
      metrics.retryBudgetExhausted.cell(backend).inc();
    },
  };
}
