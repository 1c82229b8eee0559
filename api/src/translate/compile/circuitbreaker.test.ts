import { describe, expect, it } from 'vitest';
import type { PolicyRef } from '../../ir/types.js';
import type { CircuitBreakerPolicy } from '../../schema/kinds.js';
import { validateManifest } from '../../validate/manifest.js';
import { compileCircuitBreaker } from './circuitbreaker.js';

const source: PolicyRef = { kind: 'CircuitBreakerPolicy', namespace: 'ns', name: 'cb', generation: 1 };

function compiled(activeHealthCheck: unknown) {
  const checked = validateManifest({
    apiVersion: 'stability.jarvis.io/v1alpha1',
    kind: 'CircuitBreakerPolicy',
    metadata: { name: 'cb', namespace: 'ns' },
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 's' }], activeHealthCheck },
  });
  if (!checked.ok) throw new Error(checked.errors.map((e) => e.message).join('; '));
  return compileCircuitBreaker(checked.policy as CircuitBreakerPolicy, source).activeHealthCheck;
}

describe('compileCircuitBreaker: active health checks', () => {
  it('probes GET /healthz expecting 200 when type HTTP has no http section', () => {
    expect(compiled({})).toEqual({
      type: 'HTTP',
      intervalMs: 5000,
      timeoutMs: 1000,
      unhealthyThreshold: 3,
      healthyThreshold: 2,
      http: { path: '/healthz', method: 'GET', expectedStatuses: [200] },
    });
  });

  it('keeps a given probe (statuses sorted, duplicates dropped) and gives TCP none', () => {
    expect(compiled({ http: { path: '/ready', method: 'HEAD', expectedStatuses: [204, 200] } })?.http).toEqual({
      path: '/ready',
      method: 'HEAD',
      expectedStatuses: [200, 204],
    });
    expect(compiled({ type: 'TCP' })?.http).toBeUndefined();
  });
});
