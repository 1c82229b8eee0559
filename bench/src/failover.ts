#!/usr/bin/env node
/**
 * `npm run bench:failover` (about two minutes; `-- --quick` about forty seconds): automatic
 * traffic switching under a steady 1,000 requests/s from the open-loop generator, on the
 * topology of e2e/test/failover.e2e.test.ts (a standalone gateway, one backend of three mock
 * replicas on 127.0.0.1-3 under a CircuitBreakerPolicy: health checks every second, ejection
 * after 3 gateway errors in a row, retries with a budget, breaker open for 5 s).
 *
 * 1. Baseline: the healthy topology, latency at the same rate.
 * 2. SIGKILL: one replica is killed part-way through the run and restarted later. Figures: the
 *    share of requests that succeeded, the time from the kill until the gateway stops sending to
 *    it (ejection), the time from its restart until it gets traffic again (re-admission), retries
 *    and how often the retry budget ran out.
 * 3. Every replica failing: the breaker opens; the latency of its fail-fast answers; the time to
 *    close through half-open probes once the replicas heal.
 *
 * Progress goes to stderr; the last line on stdout is one JSON object: success_ratio,
 * ejection_ms, readmission_ms, fail_fast_p99_ms, retry_budget_exhausted, and more.
 */
import { clock, sleep } from '@jarvis/e2e/dist/clock.js';
import {
  BACKEND_ID,
  FAILOVER_POLICY,
  runLoad,
  startFailoverTopology,
  successRatio,
  waitForBackend,
  type BackendState,
  type FailoverTopology,
} from '@jarvis/e2e/dist/failover.js';
import { scrapeMetric } from '@jarvis/e2e/dist/util/metrics.js';

interface Settings {
  rate: number;
  baselineS: number;
  /** SIGKILL run: total seconds, kill after, restart after (from the start of the run). */
  runS: number;
  killAtS: number;
  restartAtS: number;
  failingS: number;
  failFastS: number;
}

const FULL: Settings = { rate: 1000, baselineS: 5, runS: 40, killAtS: 10, restartAtS: 25, failingS: 2, failFastS: 3 };
const QUICK: Settings = { rate: 1000, baselineS: 2, runS: 10, killAtS: 3, restartAtS: 6, failingS: 1, failFastS: 1.5 };

const say = (line: string): void => void process.stderr.write(`[bench:failover] ${line}\n`);
const ms = (v: number | null | undefined): number | null => (v === null || v === undefined ? null : Math.round(v * 1000) / 1000);
const endpointOf = (b: BackendState, origin: string) => b.endpoints.find((e) => e.origin === origin);

async function sigkill(s: Settings) {
  const t = await startFailoverTopology('bench-sigkill');
  try {
    const baseline = await runLoad(t.url, { rate: s.rate, durationS: s.baselineS });
    say(`baseline: p50 ${baseline.latency_ms.p50} ms, p99 ${baseline.latency_ms.p99} ms, success ${successRatio(baseline)}`);
    const victim = t.replicas[1]!;
    const started = clock.now();
    const load = runLoad(t.url, { rate: s.rate, durationS: s.runS });
    await sleep(s.killAtS * 1000);
    const killedAt = clock.now();
    await victim.kill();
    const ejectedAt = await waitForBackend(
      t.gateway.adminUrl,
      (b) => endpointOf(b, victim.origin)?.receivesTraffic === false,
      'the dead replica out',
    );
    say(`killed ${victim.origin} at ${((killedAt - started) / 1000).toFixed(1)} s; out of rotation after ${ejectedAt - killedAt} ms`);
    await sleep(Math.max(0, started + s.restartAtS * 1000 - clock.now()));
    await victim.restart();
    const restartedAt = clock.now();
    const readmittedAt = await waitForBackend(
      t.gateway.adminUrl,
      (b) => endpointOf(b, victim.origin)?.receivesTraffic === true,
      'the replica back',
    );
    say(`restarted it; back in rotation after ${readmittedAt - restartedAt} ms`);
    const result = await load;
    const metric = (name: string) => scrapeMetric(`${t.gateway.adminUrl}/metrics`, name, { backend: BACKEND_ID });
    const retries = (await metric('jarvis_gateway_retries_total')) ?? 0;
    const exhausted = (await metric('jarvis_gateway_retry_budget_exhausted_total')) ?? 0;
    say(
      `SIGKILL run: ${result.sent} requests at ${s.rate}/s, statuses ${JSON.stringify(result.status)}, errors ${JSON.stringify(result.errors)}, p50 ${result.latency_ms.p50} ms, p99 ${result.latency_ms.p99} ms, ${retries} retries, budget exhausted ${exhausted}×`,
    );
    return {
      success_ratio: Math.round(successRatio(result) * 1e6) / 1e6,
      ejection_ms: ejectedAt - killedAt,
      readmission_ms: readmittedAt - restartedAt,
      retries,
      retry_budget_exhausted: exhausted,
      sigkill_p99_ms: ms(result.latency_ms.p99),
      baseline_p99_ms: ms(baseline.latency_ms.p99),
    };
  } finally {
    await t.stop();
  }
}

async function allFailing(s: Settings, t: FailoverTopology) {
  await runLoad(t.url, { rate: s.rate, durationS: s.baselineS, warmupS: 0 }); // warm (JIT, connections)
  await Promise.all(t.replicas.map((r) => r.configure({ errorRate: 1, errorStatuses: [502] })));
  await runLoad(t.url, { rate: s.rate, durationS: s.failingS, warmupS: 0 });
  await waitForBackend(t.gateway.adminUrl, (b) => b.breaker?.state === 'open', 'the breaker open', 3_000);
  // The gateway's own time for its 5xx answers: the share within 5 ms over the fail-fast phase.
  const metrics = `${t.gateway.adminUrl}/metrics`;
  const served = async () => ({
    within: (await scrapeMetric(metrics, 'jarvis_gateway_request_duration_seconds_bucket', { status_class: '5xx', le: '0.005' })) ?? 0,
    all: (await scrapeMetric(metrics, 'jarvis_gateway_request_duration_seconds_count', { status_class: '5xx' })) ?? 0,
  });
  const before = await served();
  const fast = await runLoad(t.url, { rate: s.rate, durationS: s.failFastS, warmupS: 0 });
  const after = await served();
  const within5ms = (after.within - before.within) / Math.max(1, after.all - before.all);
  const failFast = (fast.status['503'] ?? 0) / Math.max(1, fast.sent);
  say(
    `breaker open: fail-fast at the client p50 ${fast.latency_ms.p50} ms, p99 ${fast.latency_ms.p99} ms (the generator's own send lag p99 ${fast.send_lag_ms?.p99} ms); ${Math.round(failFast * 1000) / 10} % answered 503 at once, ${Math.round(within5ms * 10000) / 100} % of them within 5 ms at the gateway`,
  );
  await Promise.all(t.replicas.map((r) => r.configure({ errorRate: 0 })));
  const healedAt = clock.now();
  const waitS = (FAILOVER_POLICY.openBaseMs * (1 + FAILOVER_POLICY.jitterPercent / 100)) / 1000 + 3;
  const recovering = runLoad(t.url, { rate: 200, durationS: waitS, warmupS: 0 });
  const closedAt = await waitForBackend(
    t.gateway.adminUrl,
    (b) => b.breaker?.state === 'closed',
    'the breaker closed',
    waitS * 1000 + 2_000,
    50,
  );
  await recovering;
  const exhausted =
    (await scrapeMetric(`${t.gateway.adminUrl}/metrics`, 'jarvis_gateway_retry_budget_exhausted_total', { backend: BACKEND_ID })) ?? 0;
  say(
    `healed: the breaker closed ${closedAt - healedAt} ms later (open for ${FAILOVER_POLICY.openBaseMs} ms ± ${FAILOVER_POLICY.jitterPercent} %); retry budget exhausted ${exhausted}× while failing`,
  );
  return {
    fail_fast_p99_ms: ms(fast.latency_ms.p99),
    fail_fast_p50_ms: ms(fast.latency_ms.p50),
    fail_fast_ratio: Math.round(failFast * 1e4) / 1e4,
    fail_fast_within_5ms_at_gateway: Math.round(within5ms * 1e4) / 1e4,
    fail_fast_send_lag_p99_ms: ms(fast.send_lag_ms?.p99),
    closed_after_heal_ms: closedAt - healedAt,
    retry_budget_exhausted_all_failing: exhausted,
  };
}

export async function runFailoverBench(argv: readonly string[]): Promise<Record<string, unknown>> {
  const quick = argv.includes('--quick');
  const s = quick ? QUICK : FULL;
  say(`${quick ? 'quick' : 'full'} run: ${s.rate} requests/s`);
  const started = clock.now();
  const killed = await sigkill(s);
  const t = await startFailoverTopology('bench-all-failing');
  let failing;
  try {
    failing = await allFailing(s, t);
  } finally {
    await t.stop();
  }
  say(`done in ${Math.round((clock.now() - started) / 1000)} s`);
  return { ...killed, ...failing, rate: s.rate, run_s: s.runS, health_interval_ms: FAILOVER_POLICY.healthIntervalMs, quick };
}

runFailoverBench(process.argv.slice(2)).then(
  (summary) => {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    say(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
