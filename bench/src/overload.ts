/**
 * `npm run bench:overload` (`-- --quick`: 20 s per variant instead of 60): a slow mock upstream
 * of known capacity (10 requests at once, 100 ms ± 10 % each; the capacity is measured first,
 * directly, with a closed loop) gets 3× that capacity through the gateway for the measured time,
 * open loop, from VIP (10 %) and standard tenants (8 of them), each request with a 2 s deadline.
 * Three gateway configurations, in this order:
 *
 * - `no_queue`: routing only — the baseline the queue is compared with;
 * - `fixed`: a QueuePolicy with maxInFlight = 1.2 × the upstream's concurrency, VIP first, fair per tenant;
 * - `adaptive`: the same policy without maxInFlight: the limit is found from latency.
 *
 * Per variant: goodput (200 answers that reached the client in the measured window, per second)
 * over the capacity (answers ending in a window of 3 s, measured directly with a closed loop just
 * before and again just after the variant: the
 * mean of the two, since the machine may be shared), VIP success ratio, queue waits (the mock stamps when each request reached it; the
 * wait is that minus when the client sent it), requests that reached the upstream after their
 * deadline (the mock counts them against x-jarvis-deadline), the gateway's RSS (start, peak, end),
 * and for adaptive the limit it found. Clients give up 500 ms after their deadline. The last line
 * is one JSON object: the `fixed` figures at the top level, and `adaptive` and `no_queue` objects
 * with the same keys.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { repoRoot } from '@jarvis/e2e/dist/paths.js';
import { trackDir } from '@jarvis/e2e/dist/util/processes.js';
import { Pool } from 'undici';

import { systemClock } from './clock.js';
import { startGateway } from './harness/gateway.js';
import { startJsonService } from './harness/process.js';
import { BENCH_NAMESPACE, BENCH_SERVICE, benchManifests } from './harness/manifests.js';
import { toYamlDocuments, type YamlValue } from './harness/yaml.js';
import { percentile } from './stats.js';

export interface OverloadSettings {
  /** Measured seconds per variant, after `warmupS`. */
  durationS: number;
  warmupS: number;
  /** Offered load as a multiple of the measured capacity. */
  load: number;
  /** The upstream: requests served at once, and each one's time (± 10 %). */
  slots: number;
  latencyMs: number;
  /** Every request's deadline (the policy's default). */
  deadlineMs: number;
  vipShare: number;
  tenants: number;
}

export const OVERLOAD_FULL: OverloadSettings = {
  durationS: 60,
  warmupS: 5,
  load: 3,
  slots: 10,
  latencyMs: 100,
  deadlineMs: 2000,
  vipShare: 0.1,
  tenants: 8,
};

type Variant = 'no_queue' | 'fixed' | 'adaptive';

export interface VariantResult {
  /** The upstream's capacity this variant is compared with: the mean of the measurements just before and after it. */
  capacity_rps?: number;
  sent: number;
  status: Record<string, number>;
  errors: number;
  goodput_rps: number;
  goodput_ratio: number;
  vip_sent: number;
  vip_success_ratio: number;
  /** Queue waits of requests that reached the upstream (ms). */
  p50_queue_wait_ms: number | null;
  p99_queue_wait_ms: number | null;
  vip_p99_queue_wait_ms: number | null;
  deadline_ms: number;
  /** Requests that reached the upstream after their deadline, and those that carried one. */
  late_upstream_arrivals: number;
  /** How late the latest of them arrived (ms): a process starved of CPU reads a request late. */
  late_upstream_arrival_max_ms: number;
  upstream_requests_with_deadline: number;
  rss_mb_start: number | null;
  rss_mb_peak: number | null;
  rss_mb_end: number | null;
  /** Adaptive: the limit found (mean over the measured window, and at its end). */
  limit_mean?: number | null;
  limit_end?: number | null;
}

function log(line: string): void {
  process.stderr.write(`[overload] ${line}\n`);
}

const round = (v: number, digits = 3): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** The gateway's manifests for a variant: the bench platform with the mock as its upstream, plus the QueuePolicy. */
function manifests(variant: Variant, mockPort: number, s: OverloadSettings, capacityRps: number): YamlValue[] {
  const docs = benchManifests('routing', mockPort);
  if (variant === 'no_queue') return docs;
  docs.push({
    apiVersion: 'stability.jarvis.io/v1alpha1',
    kind: 'QueuePolicy',
    metadata: { name: 'overload', namespace: BENCH_NAMESPACE },
    spec: {
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'bench' }],
      // A hand-set cap a little over the upstream's concurrency: the few requests waiting at the
      // upstream keep it busy across the gateway's own delay between a call's end and the next dispatch.
      ...(variant === 'fixed' ? { maxInFlight: Math.ceil(s.slots * 1.2) } : { adaptive: { minLimit: 3 } }),
      // What the upstream can serve within one deadline; more would only wait to expire.
      maxQueued: Math.ceil((capacityRps * s.deadlineMs) / 1000),
      priorityClasses: [
        { name: 'vip', priority: 100, match: { tenants: ['vip'] } },
        { name: 'standard', priority: 10 },
      ],
      defaultPriorityClass: 'standard',
      fairness: { key: 'Tenant' },
      deadline: { default: `${s.deadlineMs}ms`, max: `${s.deadlineMs}ms` },
    },
  });
  return docs;
}

/**
 * Requests per second the mock itself serves with a closed loop of 2 × its slots (no gateway):
 * the answers that end inside the measured window, after a warm-up of one second, over its
 * length. (Counting every answer to a request sent before the end would add the answers still in
 * flight then — up to 2 × slots more — and overstate the capacity by several percent.)
 */
async function measureCapacity(url: string, connections: number, seconds: number): Promise<number> {
  const pool = new Pool(url, { connections });
  const from = systemClock.now() + 1000;
  const end = from + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (systemClock.now() < end) {
        const res = await pool.request({ method: 'GET', path: '/capacity' });
        await res.body.dump();
        const at = systemClock.now();
        if (res.statusCode === 200 && at >= from && at < end) done++;
      }
    }),
  );
  await pool.close();
  return done / seconds;
}

async function scrape(adminUrl: string, name: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    for (const line of text.split('\n'))
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) return Number(line.split(' ').pop());
  } catch {
    return undefined;
  }
  return undefined;
}

interface Sample {
  vip: boolean;
  sentAt: number;
  status: number;
  receivedAt: number | undefined;
}

/** The mock upstream, a process of its own (the load generator must not slow it down), driven over HTTP. */
interface SlowMock {
  readonly port: number;
  readonly url: string;
  reset(): Promise<void>;
  stats(): Promise<{ lateArrivals: number; lateArrivalMaxMs: number; withDeadline: number }>;
  stop(): Promise<void>;
}

async function startSlowMock(s: OverloadSettings): Promise<SlowMock> {
  const spec = {
    mocks: [{ name: BENCH_SERVICE, kind: 'chat', latencyMs: s.latencyMs * 0.9, jitterMs: s.latencyMs * 0.2, concurrency: s.slots }],
  };
  const svc = await startJsonService<{ mocks: { port: number; url: string }[] }>(
    join(repoRoot, 'mocks', 'dist', 'main.js'),
    ['--spec', JSON.stringify(spec)],
    {
      name: 'mock',
    },
  );
  const m = svc.info.mocks[0];
  if (!m) throw new Error('the mock process started no mock');
  return {
    port: m.port,
    url: m.url,
    reset: async () => {
      await (await fetch(`${m.url}/__mock/reset`, { method: 'POST' })).text();
    },
    stats: async () =>
      (await (await fetch(`${m.url}/__mock/stats`)).json()) as { lateArrivals: number; lateArrivalMaxMs: number; withDeadline: number },
    stop: () => svc.stop(),
  };
}

async function runVariant(variant: Variant, mock: SlowMock, s: OverloadSettings, capacityRps: number): Promise<VariantResult> {
  const dir = await mkdtemp(join(tmpdir(), 'jarvis-overload-'));
  const forget = trackDir(dir);
  try {
    const configDir = join(dir, 'config');
    await mkdir(configDir);
    await writeFile(join(configDir, 'config.yaml'), toYamlDocuments(manifests(variant, mock.port, s, capacityRps)));
    // The load generator is a trusted proxy: its x-tenant-id names the tenant.
    const identity = join(dir, 'identity.yaml');
    await writeFile(identity, 'trustedProxies: [127.0.0.0/8]\n');
    const gw = await startGateway({ configDir, identityFile: identity });
    try {
      await mock.reset();
      const rate = s.load * capacityRps;
      const total = Math.round(rate * (s.warmupS + s.durationS));
      const pool = new Pool(gw.url, { connections: Math.ceil(rate * ((s.deadlineMs + 1000) / 1000)) + 64 });
      const samples: Sample[] = [];
      // Answers of 200 that reached the client inside the measured window, whenever sent: goodput is
      // counted like the capacity it is compared with (answers that end inside the window).
      let okInWindow = 0;
      let windowEnd = Infinity;
      const rss: number[] = [];
      const limits: number[] = [];
      let rssStart: number | undefined;
      const start = systemClock.now();
      const measureFrom = start + s.warmupS * 1000;
      let sent = 0;
      let errors = 0;
      let inFlight = 0;
      const send = (i: number): void => {
        const vip = (i * 7919) % 1000 < s.vipShare * 1000;
        const tenant = vip ? 'vip' : `tenant-${i % s.tenants}`;
        const sentAt = systemClock.now();
        const sample: Sample = { vip, sentAt, status: 0, receivedAt: undefined };
        if (sentAt >= measureFrom) samples.push(sample);
        inFlight++;
        pool
          .request({
            method: 'GET',
            path: `/req/${i}`,
            headers: { 'x-tenant-id': tenant },
            headersTimeout: s.deadlineMs + 500,
            bodyTimeout: s.deadlineMs + 500,
          })
          .then(
            async (res) => {
              sample.status = res.statusCode;
              const answeredAt = systemClock.now();
              if (res.statusCode === 200 && answeredAt >= measureFrom && answeredAt < windowEnd) okInWindow++;
              const at = res.headers['x-mock-received-at'];
              if (typeof at === 'string') sample.receivedAt = Number(at);
              await res.body.dump();
            },
            () => {
              errors++;
            },
          )
          .finally(() => inFlight--);
      };
      const monitor = setInterval(() => {
        void scrape(gw.adminUrl, 'jarvis_gateway_process_resident_memory_bytes').then((v) => {
          if (v === undefined) return;
          rssStart ??= v;
          if (systemClock.now() >= measureFrom) rss.push(v);
        });
        if (variant === 'adaptive')
          void scrape(gw.adminUrl, 'jarvis_gateway_queue_limit').then((v) => {
            if (v !== undefined && systemClock.now() >= measureFrom) limits.push(v);
          });
      }, 1000);
      await new Promise<void>((resolve) => {
        const tick = (): void => {
          const due = Math.min(total, Math.floor(((systemClock.now() - start) * rate) / 1000));
          while (sent < due) send(sent++);
          if (sent >= total) return resolve();
          setTimeout(tick, 2);
        };
        tick();
      });
      const endAt = systemClock.now();
      windowEnd = endAt;
      while (inFlight > 0 && systemClock.now() - endAt < s.deadlineMs + 3000) await new Promise((r) => setTimeout(r, 50));
      clearInterval(monitor);
      const rssEnd = await scrape(gw.adminUrl, 'jarvis_gateway_process_resident_memory_bytes');
      const limitEnd = variant === 'adaptive' ? await scrape(gw.adminUrl, 'jarvis_gateway_queue_limit') : undefined;
      await pool.close();
      const stats = await mock.stats();

      const measuredS = (endAt - measureFrom) / 1000;
      const status: Record<string, number> = {};
      for (const x of samples) status[x.status] = (status[x.status] ?? 0) + 1;
      const vips = samples.filter((x) => x.vip);
      const waits = (xs: Sample[]) =>
        Float64Array.from(xs.filter((x) => x.receivedAt !== undefined).map((x) => Math.max(0, (x.receivedAt ?? 0) - x.sentAt))).sort();
      const p = (xs: Float64Array, q: number) => {
        const v = percentile(xs, q);
        return v === undefined ? null : round(v, 1);
      };
      const all = waits(samples);
      const vipWaits = waits(vips);
      const mb = (v: number | undefined) => (v === undefined ? null : round(v / 1024 / 1024, 1));
      return {
        sent: samples.length,
        status,
        errors,
        goodput_rps: round(okInWindow / measuredS, 1),
        goodput_ratio: round(okInWindow / measuredS / capacityRps),
        vip_sent: vips.length,
        vip_success_ratio: vips.length === 0 ? 0 : round(vips.filter((x) => x.status === 200).length / vips.length, 4),
        p50_queue_wait_ms: p(all, 0.5),
        p99_queue_wait_ms: p(all, 0.99),
        vip_p99_queue_wait_ms: p(vipWaits, 0.99),
        deadline_ms: s.deadlineMs,
        late_upstream_arrivals: stats.lateArrivals,
        late_upstream_arrival_max_ms: stats.lateArrivalMaxMs,
        upstream_requests_with_deadline: stats.withDeadline,
        rss_mb_start: mb(rssStart),
        rss_mb_peak: rss.length === 0 ? null : mb(Math.max(...rss)),
        rss_mb_end: mb(rssEnd),
        ...(variant === 'adaptive'
          ? {
              limit_mean: limits.length === 0 ? null : round(limits.reduce((a, b) => a + b, 0) / limits.length, 1),
              limit_end: limitEnd ?? null,
            }
          : {}),
      };
    } finally {
      await gw.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    forget();
  }
}

export function parseOverloadArgs(argv: readonly string[]): OverloadSettings {
  let s: OverloadSettings = { ...OVERLOAD_FULL };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag}: expected a positive number`);
      return v;
    };
    if (flag === '--quick') s = { ...s, durationS: 20, warmupS: 3 };
    else if (flag === '--duration') s.durationS = value();
    else if (flag === '--load') s.load = value();
    else if (flag === '--slots') s.slots = Math.round(value());
    else if (flag === '--latency') s.latencyMs = value();
    else if (flag === '--deadline') s.deadlineMs = Math.round(value());
    else throw new Error(`unknown flag ${flag} (known: --quick, --duration S, --load X, --slots N, --latency MS, --deadline MS)`);
  }
  return s;
}

export async function runOverload(argv: readonly string[]): Promise<Record<string, unknown>> {
  const s = parseOverloadArgs(argv);
  const mock = await startSlowMock(s);
  try {
    log(`measuring the upstream's capacity (${s.slots} at once, ${s.latencyMs} ms ± 10 %)`);
    const capacityRps = round(await measureCapacity(mock.url, s.slots * 2, 3), 1);
    let capacityBefore = capacityRps;
    log(`capacity ${capacityRps} rps; offering ${round(s.load * capacityRps, 1)} rps for ${s.warmupS} + ${s.durationS} s per variant`);
    const results: Partial<Record<Variant, VariantResult>> = {};
    for (const v of ['no_queue', 'fixed', 'adaptive'] as const) {
      log(`variant ${v}`);
      const r = await runVariant(v, mock, s, capacityRps);
      // The machine is shared: the upstream's capacity is measured again right after each variant,
      // and the variant's goodput is compared with the mean of the two measurements around it.
      const after = round(await measureCapacity(mock.url, s.slots * 2, 3), 1);
      const reference = (capacityBefore + after) / 2;
      results[v] = { ...r, capacity_rps: round(reference, 1), goodput_ratio: round(r.goodput_rps / reference) };
      capacityBefore = after;
      log(`${v}: ${JSON.stringify(results[v])}`);
    }
    return {
      // The capacity measured first (the offered load is 3× it); each variant's own reference is its capacity_rps.
      capacity_rps_initial: capacityRps,
      offered_rps: round(s.load * capacityRps, 1),
      duration_s: s.durationS,
      ...results.fixed,
      adaptive: results.adaptive,
      no_queue: results.no_queue,
    };
  } finally {
    await mock.stop();
  }
}
