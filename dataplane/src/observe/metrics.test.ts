import { BACKEND_TYPE_URL, GATEWAY_TYPE_URL } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { createGatewayMetrics, observeUpstream, redisRoundTripObserver, statusClass, xdsObserver } from './metrics.js';

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

describe('dashboard metrics', () => {
  const text = (m: ReturnType<typeof createGatewayMetrics>) => m.registry.metrics();

  it('classes statuses into 1xx-5xx, anything else other', () => {
    expect([100, 200, 204, 302, 429, 499, 503, 599, 0, 600, 42].map(statusClass)).toEqual([
      '1xx',
      '2xx',
      '2xx',
      '3xx',
      '4xx',
      '4xx',
      '5xx',
      '5xx',
      'other',
      'other',
      'other',
    ]);
  });

  it('times requests by route and status class: fast 429s apart from served answers', async () => {
    const m = createGatewayMetrics();
    m.latency.cell('r', '2xx').observe(0.2);
    m.latency.cell('r', '4xx').observe(0.0002);
    const t = await text(m);
    expect(t).toContain('jarvis_gateway_request_duration_seconds_count{route="r",status_class="2xx"} 1');
    expect(t).toContain('jarvis_gateway_request_duration_seconds_bucket{le="0.0005",route="r",status_class="4xx"} 1');
    expect(t).toContain('jarvis_gateway_request_duration_seconds_bucket{le="0.1",route="r",status_class="2xx"} 0');
  });

  it('counts upstream calls per backend by status class, times them, and counts failures by kind', async () => {
    const m = createGatewayMetrics();
    observeUpstream(m, 'ns/a:80', { status: 200, error: undefined }, 0.01);
    observeUpstream(m, 'ns/a:80', { status: 503, error: undefined }, 0.02);
    observeUpstream(m, 'ns/a:80', { status: 504, error: 'timeout' }, 5);
    observeUpstream(m, 'ns/b:80', { status: 502, error: 'connect' }, 0.001);
    observeUpstream(m, 'ns/b:80', { status: 499, error: 'client-gone' }, 0.5);
    observeUpstream(m, 'ns/b:80', { status: 413, error: 'body-too-large' }, 0);
    const t = await text(m);
    expect(t).toContain('jarvis_gateway_upstream_requests_total{backend="ns/a:80",status_class="2xx"} 1');
    expect(t).toContain('jarvis_gateway_upstream_requests_total{backend="ns/a:80",status_class="5xx"} 1');
    expect(t).toContain('jarvis_gateway_upstream_requests_total{backend="ns/a:80",status_class="none"} 1');
    expect(t).toContain('jarvis_gateway_upstream_requests_total{backend="ns/b:80",status_class="none"} 2');
    expect(t).toContain('jarvis_gateway_upstream_errors_total{backend="ns/a:80",kind="server_error"} 1');
    expect(t).toContain('jarvis_gateway_upstream_errors_total{backend="ns/a:80",kind="timeout"} 1');
    expect(t).toContain('jarvis_gateway_upstream_errors_total{backend="ns/b:80",kind="unavailable"} 1');
    expect(t).not.toMatch(/upstream_errors_total\{backend="ns\/b:80",kind="(client|body)/);
    expect(t).toContain('jarvis_gateway_upstream_duration_seconds_count{backend="ns/a:80"} 3');
    // The body refused for its size never counts against the backend.
    expect(t).toContain('jarvis_gateway_upstream_duration_seconds_count{backend="ns/b:80"} 2');
  });

  it('exports hot-key shares as ratios, their hot state, and route surges', async () => {
    const m = createGatewayMetrics(() => [
      { routeId: 'r', parameter: 'Tenant', value: 'acme', share: 0.6, hot: true },
      { routeId: 'r', parameter: 'Tenant', value: 'globex', share: 0.1, hot: false },
      { routeId: 'r', parameter: 'Route', value: 'r', share: 3.5, hot: true },
    ]);
    const t = await text(m);
    expect(t).toContain('jarvis_gateway_hotkey_share_ratio{route="r",parameter="Tenant",value="acme"} 0.6');
    expect(t).not.toContain('jarvis_gateway_hotkey_share_ratio{route="r",parameter="Route"');
    expect(t).toContain('jarvis_gateway_hotkey_hot{route="r",parameter="Tenant",value="acme"} 1');
    expect(t).toContain('jarvis_gateway_hotkey_hot{route="r",parameter="Tenant",value="globex"} 0');
    expect(t).toContain('jarvis_gateway_hotkey_hot{route="r",parameter="Route",value="r"} 1');
    expect(t).toContain('jarvis_gateway_route_surge_ratio{route="r"} 3.5');
  });

  it('shows the xDS connection (disconnected until connected) and counts NACKs by type', async () => {
    const m = createGatewayMetrics();
    const xds = xdsObserver(m, 'op:18000');
    expect(await text(m)).toContain('jarvis_gateway_xds_connected{target="op:18000"} 0');
    xds.connected(true);
    xds.rejected(GATEWAY_TYPE_URL);
    xds.rejected(GATEWAY_TYPE_URL);
    xds.rejected(BACKEND_TYPE_URL);
    const t = await text(m);
    expect(t).toContain('jarvis_gateway_xds_connected{target="op:18000"} 1');
    expect(t).toContain('jarvis_gateway_xds_nacks_total{type="gateway"} 2');
    expect(t).toContain('jarvis_gateway_xds_nacks_total{type="backend"} 1');
  });
});
