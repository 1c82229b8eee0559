import { describe, expect, it } from 'vitest';
import type { Exchange } from '../../pipeline/exchange.js';
import { callOutcome } from './toggles-stage.js';

const x = (over: Partial<Exchange>): Exchange =>
  ({ status: 0, error: undefined, covered: undefined, upstreamStart: 0, upstreamHead: 0, upstreamEnd: 0, ...over }) as Exchange;

describe('callOutcome', () => {
  it('judges the upstream call: failed on a 5xx head, a timeout, no connection, a reset, an open breaker', () => {
    expect(callOutcome(x({ status: 200, upstreamStart: 10, upstreamHead: 35, upstreamEnd: 40 }), 40)).toEqual({
      failed: false,
      latencyMs: 25,
    });
    expect(callOutcome(x({ status: 404, upstreamStart: 10, upstreamHead: 12, upstreamEnd: 12 }), 12)).toEqual({
      failed: false,
      latencyMs: 2,
    });
    expect(callOutcome(x({ status: 503, upstreamStart: 10, upstreamHead: 11, upstreamEnd: 11 }), 11)).toEqual({
      failed: true,
      latencyMs: 1,
    });
    // A timeout counts its time until it gave up.
    expect(callOutcome(x({ status: 504, error: 'timeout', upstreamStart: 10, upstreamEnd: 1010 }), 1010)).toEqual({
      failed: true,
      latencyMs: 1000,
    });
    expect(callOutcome(x({ status: 502, error: 'connect', upstreamStart: 10, upstreamEnd: 11 }), 11)).toEqual({
      failed: true,
      latencyMs: undefined,
    });
    // An open breaker sent nothing, yet the backend is failing.
    expect(callOutcome(x({ status: 503, error: 'breaker-open' }), 5)).toEqual({ failed: true, latencyMs: undefined });
  });

  it('has nothing to judge when no call was made or the client left; a covered failure is still the upstream failure', () => {
    // Answered by the gateway (e.g. a 413, or a queue's 503) before any call.
    expect(callOutcome(x({ status: 413, error: 'body-too-large' }), 5)).toBeUndefined();
    expect(callOutcome(x({ status: 503, error: 'overloaded' }), 5)).toBeUndefined();
    expect(callOutcome(x({ status: 499, error: 'client-gone', upstreamStart: 1 }), 5)).toBeUndefined();
    // A stale answer covered a 500: the client got 200, the upstream failed.
    expect(
      callOutcome(x({ status: 200, covered: { status: 500, error: undefined }, upstreamStart: 1, upstreamHead: 3, upstreamEnd: 3 }), 3),
    ).toEqual({ failed: true, latencyMs: 2 });
  });
});
