/** Traffic switching: breakers, retry budgets, outlier detection and active health checks of backends. */
export { CircuitBreaker, REJECTED, type BreakerState, type BreakerView } from './breaker.js';
export { RetryBudget } from './budget.js';
export { backoffMs, retryAfterMs } from './backoff.js';
export { EndpointState, type Health } from './endpoint.js';
export { NO_EVENTS, type BackendEvents, type ReadmitReason, type RetryReason } from './events.js';
export { BackendGuard, type BackendView, type EndpointView, type GuardDeps } from './guard.js';
export { HealthLoop, createProber, type Prober } from './health.js';
export { OutlierRules, outlierOutcome, type EjectionReason } from './outlier.js';
export { BackendGuardRegistry, type PreparedGuards } from './registry.js';
