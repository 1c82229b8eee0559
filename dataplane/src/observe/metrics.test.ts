import { describe, expect, it } from 'vitest';
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
});
