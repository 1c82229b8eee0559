/**
 * Automatic traffic switching with real processes: a standalone gateway in front of one backend of
 * three mock replicas (127.0.0.1, 127.0.0.2, 127.0.0.3, one port, one IPv4 EndpointSlice) under a
 * CircuitBreakerPolicy, at a steady 1,000 requests/s from the open-loop generator:
 *
 * - a replica SIGKILLed: ≥ 99.9 % of the run succeeds, it is ejected within two health intervals
 *   (in practice at the consecutive-error threshold), and re-admitted within two intervals after it
 *   restarts;
 * - a replica made slow: its calls time out per try and are retried elsewhere, it is ejected, and
 *   the run's p99 stays under the per-try timeout plus one retry;
 * - every replica failing: the breaker opens, answers fail fast (p99 < 5 ms), and half-open probes
 *   close it once the replicas heal;
 * - a replica marked not ready in the EndpointSlice (the manifests reloaded): no traffic to it
 *   within 1 s, and the other endpoints keep what the gateway knew of them.
 *
 * (The same readiness change through the operator and xDS: readiness.e2e.test.ts.)
 *
 * Load phases are a few seconds each; `npm run bench:failover` is the long form.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { clock, sleep } from '../src/clock.js';
import {
  BACKEND_ID,
  FAILOVER_POLICY as P,
  adminBackends,
  runLoad,
  startFailoverTopology,
  successRatio,
  waitForBackend,
  type BackendState,
  type FailoverTopology,
} from '../src/failover.js';

let topology: FailoverTopology | undefined;

afterEach(async () => {
  await topology?.stop();
  topology = undefined;
});

const endpoint = (b: BackendState, origin: string) => b.endpoints.find((e) => e.origin === origin);

/** Requests the gateway has answered so far. */
const answered = async (t: FailoverTopology): Promise<number> => (await t.gateway.metric('jarvis_gateway_requests_total')) ?? 0;

/** Waits until the gateway has answered `n` requests more than `from`: the load is that far under way. */
async function loadUnderWay(t: FailoverTopology, from: number, n: number): Promise<void> {
  await expect.poll(async () => (await answered(t)) - from, { timeout: 15_000, interval: 50 }).toBeGreaterThanOrEqual(n);
}

describe('traffic switching at 1,000 requests/s', () => {
  it('a SIGKILLed replica: ≥ 99.9 % succeed, ejected fast, re-admitted within two health intervals of its restart', async () => {
    topology = await startFailoverTopology('sigkill');
    const { gateway, replicas } = topology;
    const victim = replicas[1]!;
    const from = await answered(topology);
    const load = runLoad(topology.url, { rate: 1000, durationS: 7, warmupS: 1.5 });
    await loadUnderWay(topology, from, 3_500);
    const killedAt = clock.now();
    await victim.kill();
    const ejectedAt = await waitForBackend(
      gateway.adminUrl,
      (b) => endpoint(b, victim.origin)?.receivesTraffic === false,
      'the dead replica out',
    );
    const ejection = (await adminBackends(gateway.adminUrl))?.find((b) => b.id === BACKEND_ID);
    // Dead long enough for its health checks to fail too (unhealthyThreshold 2).
    await waitForBackend(
      gateway.adminUrl,
      (b) => endpoint(b, victim.origin)?.health === 'unhealthy',
      'the dead replica unhealthy',
      5 * P.healthIntervalMs,
    );
    expect(endpoint(ejection!, victim.origin)?.ejected || endpoint(ejection!, victim.origin)?.health === 'unhealthy').toBe(true);
    await victim.restart();
    const restartedAt = clock.now();
    const readmittedAt = await waitForBackend(
      gateway.adminUrl,
      (b) => endpoint(b, victim.origin)?.receivesTraffic === true,
      'the replica back',
    );
    const result = await load;
    const ratio = successRatio(result);
    const retries = await gateway.metric('jarvis_gateway_retries_total', { backend: BACKEND_ID });
    console.log(
      `[figures] SIGKILL at 1000 rps: success ${(ratio * 100).toFixed(3)} % of ${result.sent} (statuses ${JSON.stringify(result.status)}, errors ${JSON.stringify(result.errors)}), ejected after ${ejectedAt - killedAt} ms (${endpoint(ejection!, victim.origin)?.ejection?.reason ?? 'unhealthy'}), re-admitted ${readmittedAt - restartedAt} ms after the restart, ${retries ?? 0} retries, p99 ${result.latency_ms.p99} ms`,
    );
    expect(result.sent).toBeGreaterThan(5_000);
    expect(ratio).toBeGreaterThanOrEqual(0.999);
    expect(ejectedAt - killedAt).toBeLessThanOrEqual(2 * P.healthIntervalMs);
    expect(readmittedAt - restartedAt).toBeLessThanOrEqual(2 * P.healthIntervalMs);
    expect(retries).toBeGreaterThan(0);
  });

  it('a slow replica: timed out per try, retried elsewhere and ejected; p99 under the per-try timeout plus one retry', async () => {
    topology = await startFailoverTopology('slow');
    const { gateway, replicas } = topology;
    const slow = replicas[0]!;
    const from = await answered(topology);
    const load = runLoad(topology.url, { rate: 1000, durationS: 4, warmupS: 1.5 });
    await loadUnderWay(topology, from, 3_000);
    await slow.configure({ latencyMs: 3_000 });
    await waitForBackend(gateway.adminUrl, (b) => endpoint(b, slow.origin)?.receivesTraffic === false, 'the slow replica out', 3_000);
    const state = (await adminBackends(gateway.adminUrl))?.find((b) => b.id === BACKEND_ID);
    const result = await load;
    const bound = 2 * P.perTryTimeoutMs + P.backoffMaxMs;
    const ejections = await gateway.metric('jarvis_gateway_outlier_ejections_total', { backend: BACKEND_ID, result: 'ejected' });
    console.log(
      `[figures] slow replica (3 s) at 1000 rps: p50 ${result.latency_ms.p50} ms, p99 ${result.latency_ms.p99} ms (bound ${bound} ms: per-try ${P.perTryTimeoutMs} ms + backoff ≤ ${P.backoffMaxMs} ms + a retry ≤ ${P.perTryTimeoutMs} ms), success ${(successRatio(result) * 100).toFixed(3)} %, ejected for ${endpoint(state!, slow.origin)?.ejection?.reason}, breaker ${state?.breaker?.state}`,
    );
    expect(endpoint(state!, slow.origin)?.ejection?.reason).toBe('consecutive_gateway_errors');
    expect(ejections).toBeGreaterThanOrEqual(1);
    expect(result.latency_ms.p99).not.toBeNull();
    expect(result.latency_ms.p99 ?? Infinity).toBeLessThan(bound);
    expect(successRatio(result)).toBeGreaterThanOrEqual(0.999);
  });

  it('every replica failing: the breaker opens, answers fail fast (< 5 ms), half-open probes close it after the replicas heal', async () => {
    topology = await startFailoverTopology('all-failing');
    const { gateway, replicas } = topology;
    await runLoad(topology.url, { rate: 1000, durationS: 1.5, warmupS: 0 }); // warm (JIT, connections)
    await Promise.all(replicas.map((r) => r.configure({ errorRate: 1, errorStatuses: [502] })));
    const failing = await runLoad(topology.url, { rate: 1000, durationS: 1, warmupS: 0 });
    await waitForBackend(gateway.adminUrl, (b) => b.breaker?.state === 'open', 'the breaker open', 2_000);
    // The gateway's own time for its 5xx answers (arrival to end of answer), before and after the phase.
    const served = async () => ({
      within5ms: (await gateway.metric('jarvis_gateway_request_duration_seconds_bucket', { status_class: '5xx', le: '0.005' })) ?? 0,
      all: (await gateway.metric('jarvis_gateway_request_duration_seconds_count', { status_class: '5xx' })) ?? 0,
    });
    const before = await served();
    const fast = await runLoad(topology.url, { rate: 1000, durationS: 1, warmupS: 0 });
    const after5xx = await served();
    const gatewayShare = (after5xx.within5ms - before.within5ms) / Math.max(1, after5xx.all - before.all);
    const stillOpen = (await adminBackends(gateway.adminUrl))?.find((b) => b.id === BACKEND_ID)?.breaker?.state;
    const upstreamCalls = fast.status['502'] ?? 0;
    expect(stillOpen).toBe('open'); // the whole fast phase ran inside one open period
    await Promise.all(replicas.map((r) => r.configure({ errorRate: 0 })));
    const healedAt = clock.now();
    // Traffic goes on (the half-open probes are requests): until the open period ends, it fails fast.
    const waitS = (P.openBaseMs * (1 + P.jitterPercent / 100)) / 1000 + 3;
    const recovering = runLoad(topology.url, { rate: 200, durationS: waitS, warmupS: 0 });
    const closedAt = await waitForBackend(
      gateway.adminUrl,
      (b) => b.breaker?.state === 'closed',
      'the breaker closed by half-open probes',
      waitS * 1000 + 2_000,
      50,
    );
    const recovered = await recovering;
    const after = await fetch(`${topology.url}/x`);
    const exhausted = await gateway.metric('jarvis_gateway_retry_budget_exhausted_total', { backend: BACKEND_ID });
    const rejected = await gateway.metric('jarvis_gateway_breaker_rejected_total', { backend: BACKEND_ID });
    const transitions = await gateway.metric('jarvis_gateway_breaker_transitions_total', { backend: BACKEND_ID, to: 'closed' });
    console.log(
      `[figures] every replica failing: failing phase ${JSON.stringify(failing.status)}, then the breaker open; fail-fast phase at the client p50 ${fast.latency_ms.p50} ms p99 ${fast.latency_ms.p99} ms max ${fast.latency_ms.max} ms (${JSON.stringify(fast.status)}, the generator's own send lag p99 ${fast.send_lag_ms?.p99} ms), at the gateway ${(gatewayShare * 100).toFixed(2)} % within 5 ms; closed ${closedAt - healedAt} ms after the replicas healed (recovery phase ${JSON.stringify(recovered.status)}); retry budget exhausted ${exhausted ?? 0}×, ${rejected ?? 0} calls failed fast`,
    );
    expect(fast.status['503'] ?? 0).toBeGreaterThan(0.99 * fast.sent);
    expect(upstreamCalls).toBe(0);
    // Fail-fast answers take < 5 ms: at the gateway for 99 % of them (its own clock, arrival to the
    // end of the answer), and at the client for the median (its p99 adds the scheduling of a shared
    // machine to the generator's and the gateway's processes; printed above, and by bench:failover).
    expect(gatewayShare).toBeGreaterThanOrEqual(0.99);
    expect(fast.latency_ms.p50 ?? Infinity).toBeLessThan(5);
    expect(rejected).toBeGreaterThan(900);
    expect(after.status).toBe(200);
    expect(transitions).toBeGreaterThanOrEqual(1);
    expect(recovered.status['502'] ?? 0).toBe(0); // healed: the probes, and everything after them, succeeded
    expect(closedAt - healedAt).toBeLessThan(waitS * 1000);
  });

  it('a replica marked not ready in its EndpointSlice gets no new requests within 1 s, and no request fails', async () => {
    topology = await startFailoverTopology('readiness');
    const { gateway, replicas } = topology;
    const drained = replicas[2]!;
    const from = await answered(topology);
    const load = runLoad(topology.url, { rate: 1000, durationS: 4, warmupS: 1.5 });
    await loadUnderWay(topology, from, 3_000);
    const writtenAt = clock.now();
    topology.markNotReady([drained.host]);
    const outAt = await waitForBackend(
      gateway.adminUrl,
      (b) => endpoint(b, drained.origin)?.ready === false && endpoint(b, drained.origin)?.receivesTraffic === false,
      'the replica out of rotation',
      5_000,
    );
    await sleep(200); // requests already in flight to it finish
    const before = await drained.requests();
    await sleep(1_000);
    const after = await drained.requests();
    const state = (await adminBackends(gateway.adminUrl))?.find((b) => b.id === BACKEND_ID);
    const result = await load;
    console.log(
      `[figures] replica marked not ready (manifests reloaded): out of rotation ${outAt - writtenAt} ms after the write; ${after - before} requests reached it in the next second; run success ${(successRatio(result) * 100).toFixed(3)} %`,
    );
    expect(outAt - writtenAt).toBeLessThan(1_000);
    expect(after - before).toBe(0);
    expect(endpoint(state!, drained.origin)).toMatchObject({ ready: false, receivesTraffic: false });
    expect(await gateway.metric('jarvis_gateway_config_updates_total', { source: 'file', result: 'applied' })).toBe(2);
    expect(successRatio(result)).toBeGreaterThanOrEqual(0.999);
  });
});
