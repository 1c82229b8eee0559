import { silentLogger } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { backendEvents } from './backend-events.js';
import { createGatewayMetrics, redisRoundTripObserver } from './metrics.js';

describe('gateway metrics', () => {
  it('a gateway without Redis exports no Redis latency series; with it, each round trip lands in its outcome', async () => {
    const metrics = createGatewayMetrics(() => [], undefined);
    expect(await metrics.registry.metrics()).not.toMatch(/jarvis_gateway_redis_duration_seconds_count\{/);
    const observe = redisRoundTripObserver(metrics);
    observe(0.3, 'ok');
    observe(0.7, 'ok');
    observe(200, 'timeout');
    const text = await metrics.registry.metrics();
    expect(text).toContain('jarvis_gateway_redis_duration_seconds_count{outcome="ok"} 2');
    expect(text).toContain('jarvis_gateway_redis_duration_seconds_bucket{le="0.0005",outcome="ok"} 1');
    expect(text).toContain('jarvis_gateway_redis_duration_seconds_bucket{le="0.001",outcome="ok"} 2');
    expect(text).toMatch(/jarvis_gateway_redis_duration_seconds_sum\{outcome="ok"\} 0\.001\b/);
    expect(text).toContain('jarvis_gateway_redis_duration_seconds_count{outcome="timeout"} 1');
    expect(text).toContain('jarvis_gateway_redis_duration_seconds_bucket{le="0.1",outcome="timeout"} 0');
    expect(text).toContain('jarvis_gateway_redis_duration_seconds_count{outcome="error"} 0');
  });

  it('traffic switching: breaker state and endpoints by state read from the backends at scrape time; events counted by backend', async () => {
    const metrics = createGatewayMetrics(
      () => [],
      undefined,
      () => [
        {
          id: 'ns/llm:80',
          breaker: { state: 'open' },
          endpoints: [
            { ready: true, health: 'healthy', ejected: false, receivesTraffic: true },
            { ready: true, health: 'unhealthy', ejected: true, receivesTraffic: false },
            { ready: false, health: 'unknown', ejected: false, receivesTraffic: false },
          ],
        },
        { id: 'ns/plain:80', breaker: null, endpoints: [] },
      ],
    );
    const events = backendEvents(metrics, silentLogger);
    events.breakerTransition('ns/llm:80', 'closed', 'open');
    events.ejected('ns/llm:80', 'http://10.0.0.2:80', 'consecutive_5xx', 30_000);
    events.ejectionSkipped('ns/llm:80', 'http://10.0.0.3:80', 'consecutive_5xx');
    events.probed('ns/llm:80', 'http://10.0.0.2:80', false);
    events.retried('ns/llm:80', 'connect');
    events.retried('ns/llm:80', 'connect');
    events.budgetExhausted('ns/llm:80');
    events.breakerRejected('ns/llm:80');
    const text = await metrics.registry.metrics();
    expect(text).toContain('jarvis_gateway_breaker_state{backend="ns/llm:80",state="open"} 1');
    expect(text).toContain('jarvis_gateway_breaker_state{backend="ns/llm:80",state="closed"} 0');
    expect(text).not.toContain('jarvis_gateway_breaker_state{backend="ns/plain:80"');
    expect(text).toContain('jarvis_gateway_backend_endpoints{backend="ns/llm:80",state="ready"} 2');
    expect(text).toContain('jarvis_gateway_backend_endpoints{backend="ns/llm:80",state="receiving"} 1');
    expect(text).toContain('jarvis_gateway_backend_endpoints{backend="ns/llm:80",state="ejected"} 1');
    expect(text).toContain('jarvis_gateway_breaker_transitions_total{backend="ns/llm:80",from="closed",to="open"} 1');
    expect(text).toContain('jarvis_gateway_outlier_ejections_total{backend="ns/llm:80",reason="consecutive_5xx",result="ejected"} 1');
    expect(text).toContain('jarvis_gateway_outlier_ejections_total{backend="ns/llm:80",reason="consecutive_5xx",result="skipped"} 1');
    expect(text).toContain('jarvis_gateway_health_checks_total{backend="ns/llm:80",result="fail"} 1');
    expect(text).toContain('jarvis_gateway_retries_total{backend="ns/llm:80",reason="connect"} 2');
    expect(text).toContain('jarvis_gateway_retry_budget_exhausted_total{backend="ns/llm:80"} 1');
    expect(text).toContain('jarvis_gateway_breaker_rejected_total{backend="ns/llm:80"} 1');
  });
});
