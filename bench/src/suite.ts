/**
 * `npm run bench`: every target behind the same trivial mock upstream, measured in one run —
 * direct client → mock, the bare pass-through proxy, and the gateway routing only, with four limit
 * levels in memory, and with them on Redis, and with a response cache: every request a hit, every
 * request a miss (in L1 only, and — full run — with the Redis level). Each round has two phases, saturation (closed loop)
 * and then latency at a fixed rate (open loop); in each, every target is measured in turn, the bare
 * proxy again before and after each gateway variant. A variant's ratio and added latency are
 * medians over the rounds of its comparison with those adjacent bare-proxy slices of the same
 * phase: the load of a shared machine changes by the second, and adjacent slices see nearly the
 * same. Many short rounds (8 × 2 s) pair slices closer in time than a few long ones. The load
 * generator is a process of its own; at saturation it also reads the target's CPU time over each
 * slice's measured window (`--cpu-pid`), for CPU per request.
 * The last line printed is one JSON object.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from '@jarvis/e2e/dist/envtest/ports.js';
import { DEFAULT_REDIS_URL, ensureRedis, type RedisServer } from '@jarvis/e2e/dist/redis/index.js';
import { repoRoot } from '@jarvis/e2e/dist/paths.js';
import { run } from '@jarvis/e2e/dist/util/exec.js';
import { scrapeMetric } from '@jarvis/e2e/dist/util/metrics.js';
import { trackDir } from '@jarvis/e2e/dist/util/processes.js';

import { type RunningGateway, GATEWAY_MAIN, gatewayAvailable, gatewayNodeFlags, startGateway } from './harness/gateway.js';
import {
  BENCH_HEADERS,
  BENCH_PRIMARY,
  BENCH_SERVICE,
  BENCH_VARIANTS,
  type BenchVariant,
  benchGatewayArgs,
  benchLoadArgs,
  benchManifests,
  caching,
  onRedis,
} from './harness/manifests.js';
import { startJsonService, type Service } from './harness/process.js';
import {
  gatewayRedisChecks,
  gatewayRedisCommands,
  redisCommandCalls,
  redisRoundTripBuckets,
  roundTripMedianMs,
  scriptCalls,
} from './harness/redis.js';
import { toYamlDocuments } from './harness/yaml.js';
import type { LoadResult } from './loadgen.js';
import { cpuBetween, pinToCpus, readCpu } from './harness/cpu.js';
import { Focus } from './harness/focus.js';
import { ms3 } from './stats.js';

const LOADGEN = join(repoRoot, 'bench', 'dist', 'loadgen.js');
const BARE_PROXY = join(repoRoot, 'bench', 'dist', 'bare-proxy.js');
const MOCKS = join(repoRoot, 'mocks', 'dist', 'main.js');
/** How long the processes rest after the warm-up before their idle CPU is measured. */
const IDLE_SETTLE_MS = 2000;

export interface BenchSettings {
  rounds: number;
  /** The gateway variants measured. */
  variants: readonly BenchVariant[];
  /** Closed loop: connections, warm-up and measured seconds. */
  connections: number;
  saturationWarmupS: number;
  saturationS: number;
  /** Open loop: rate, warm-up and measured seconds. */
  rate: number;
  openWarmupS: number;
  openS: number;
  /**
   * Seconds of load on every target before the first round. A fresh gateway process needs several
   * seconds before its code is optimized and its heap has grown to its working size (its first
   * seconds cost 1.3–2× its steady CPU per request, compiling on V8's background threads); the
   * rounds measure the steady state.
   */
  warmupS: number;
  /** Pin every process to this many CPUs (taskset), to reproduce a loaded machine; undefined: no pinning. */
  cpus?: number;
}

export const FULL: BenchSettings = {
  rounds: 8,
  variants: BENCH_VARIANTS,
  warmupS: 6,
  connections: 32,
  saturationWarmupS: 0.5,
  saturationS: 2,
  rate: 1000,
  openWarmupS: 0.5,
  openS: 2,
};
export const QUICK: BenchSettings = {
  rounds: 1,
  // The unbatched Redis variant and the cache's Redis miss variant only in the full run.
  variants: BENCH_VARIANTS.filter((v) => v !== 'limits_redis_unbatched' && v !== 'cache_miss_redis'),
  warmupS: 2,
  connections: 32,
  saturationWarmupS: 0.5,
  saturationS: 1.5,
  rate: 1000,
  openWarmupS: 0.5,
  openS: 1.5,
};

type TargetKey = 'direct' | 'bare_proxy' | BenchVariant;

type Phase = 'saturation' | 'fixed';

interface Target {
  key: TargetKey;
  url: string;
  saturation: LoadResult[];
  fixed: LoadResult[];
  /** For a gateway variant, per phase: the bare proxy's slices measured just before and just after each of its own. */
  baseline: Record<Phase, (readonly [LoadResult, LoadResult])[]>;
  /** Requests sent to it, warm-up included. */
  requests: number;
  /** For the Redis variant: reads the gateway's round-trip counter, to split it by phase. */
  redisTrips?: () => Promise<number | undefined>;
  /** Round trips and requests at saturation and at the fixed rate (Redis variant). */
  trips?: Record<Phase, { trips: number; requests: number }>;
  /** Redis variant: the median of its round trips in each fixed-rate slice (ms), from the gateway's own histogram. */
  roundTripMedians?: number[];
  /** Redis variant: the admin URL to read that histogram from. */
  adminUrl?: string;
  /** For a gateway variant: the bare proxy's CPU per request in the slices before and after each of its own. */
  bareCpu?: (readonly [number | undefined, number | undefined])[];
  /** The process serving this target (bare proxy, gateway), for its CPU time. */
  pid?: number;
  /** Per saturation slice: process CPU µs per request (undefined when it could not be read). */
  cpuPerRequest: (number | undefined)[];
  /** CPU the process spends with no load (timers, metrics), µs per second: subtracted from a slice's. */
  idleCpuPerSecond?: number;
  /** Extra load-generator flags for this target (the cache-miss variants: a unique query per request). */
  loadArgs: readonly string[];
  /** Its fixed-rate slices run at this share of the rate (the fallback variant: two upstream calls per request). */
  rateShare?: number;
  /**
   * A target measured right after each of this one's fixed-rate slices at the same rate (the
   * fallback variant: the routing gateway, which sends straight to the fallback's second tier).
   */
  pair?: { readonly target: Target; readonly fixed: LoadResult[] };
}

function newTarget(key: TargetKey, url: string, loadArgs: readonly string[] = []): Target {
  return { key, url, saturation: [], fixed: [], baseline: { saturation: [], fixed: [] }, requests: 0, cpuPerRequest: [], loadArgs };
}

export interface VariantFigures {
  rps: number;
  rps_ratio: number | null;
  added_p50_ms: number | null;
  added_p99_ms: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  non_2xx: number;
  /** Gateway process CPU time per request at saturation (µs; median over the slices). */
  cpu_us_per_request: number | null;
  /** That over the bare proxy's, from the adjacent bare slices (median over the rounds). */
  cpu_ratio: number | null;
  /**
   * The rounds' own CPU ratios, in round order, whose median is `cpu_ratio`: how far apart they
   * are tells how much one run's figure can be trusted on a shared machine.
   */
  cpu_ratio_rounds: number[];
}

export interface BenchSummary {
  direct_rps: number | null;
  bare_proxy_rps: number | null;
  /** The bare proxy's process CPU time per request at saturation (µs). */
  bare_proxy_cpu_us_per_request: number | null;
  /** CPUs every process was pinned to (--cpus), or null. */
  cpus: number | null;
  routing: VariantFigures | null;
  limits_memory: VariantFigures | null;
  limits_redis: VariantFigures | null;
  /** The same four Redis levels with `--redis-max-batch 1`: one EVALSHA per request (full run only). */
  limits_redis_unbatched: VariantFigures | null;
  /** A CachePolicy on the route, every request the same: answered from L1, no upstream call. */
  cache_hit: VariantFigures | null;
  /** The same policy, every request distinct: a miss each time (lookup, upstream call, store in L1). */
  cache_miss: VariantFigures | null;
  /** The miss variant with the Redis level: an L2 lookup and an L2 store per request too (full run only). */
  cache_miss_redis: VariantFigures | null;
  /** Per cache variant: its requests by cache outcome (from the gateway's jarvis_gateway_cache_requests_total). */
  /** A DegradationPolicy chain whose primary answers 503 at once: every request answered by its second step. */
  fallback: VariantFigures | null;
  /**
   * What the fallback adds over a direct answer from the second tier, p50, ms: the fallback
   * variant at a fifth of the fixed rate (latency, not capacity: two upstream calls per request)
   * minus the routing variant (straight to the same upstream) measured right after it at the same
   * rate; median over rounds. The fallback's own fixed-rate figures above are at that rate too.
   */
  fallback_over_second_tier_p50_ms: number | null;
  cache_outcomes: Partial<Record<'cache_hit' | 'cache_miss' | 'cache_miss_redis', Record<string, number>>>;
  /** Round trips (EVALSHA) per request over the whole Redis run, warm-up included. */
  redis_calls_per_request: number | null;
  /** The same for the unbatched variant: 1.0 when every request has a round trip of its own. */
  redis_calls_per_request_unbatched: number | null;
  redis_calls_source: 'gateway_metric' | 'redis_commandstats' | null;
  /** The same at saturation (checks of one turn share a round trip) and at the fixed rate. */
  redis_calls_per_request_saturated: number | null;
  redis_calls_per_request_fixed_rate: number | null;
  /** Rate-limit checks sent to Redis per request: 1 (all levels of a request in one check). */
  redis_checks_per_request: number | null;
  /**
   * The Redis variant's round trip as the gateway times it (EVALSHA sent → reply parsed), median
   * at the fixed rate (ms): set beside limits_redis.added_p50_ms, it says how much of the added
   * latency is the round trip itself.
   */
  redis_round_trip_p50_ms_fixed_rate: number | null;
  direct_p50_ms: number | null;
  direct_p99_ms: number | null;
  bare_proxy_p50_ms: number | null;
  bare_proxy_p99_ms: number | null;
  fixed_rate: number;
  rounds: number;
  gateway: Record<BenchVariant, string>;
}

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? null) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function non2xx(results: readonly LoadResult[]): number {
  let n = 0;
  for (const r of results) {
    for (const [status, count] of Object.entries(r.status)) if (!status.startsWith('2')) n += count;
    for (const count of Object.values(r.errors)) n += count;
  }
  return n;
}

async function loadgen(url: string, args: readonly string[]): Promise<LoadResult> {
  const headers = Object.entries(BENCH_HEADERS).flatMap(([k, v]) => ['--header', `${k}: ${v}`]);
  const { stdout } = await run(process.execPath, [LOADGEN, '--url', `${url}/`, ...headers, ...args], { timeoutMs: 120_000 });
  const line = stdout.trimEnd().split('\n').pop() ?? '';
  return JSON.parse(line) as LoadResult;
}

/** The load generator's arguments for a closed loop on `s.connections` connections. */
function closedLoop(s: BenchSettings, warmupS: number, durationS: number): string[] {
  return ['--mode', 'closed', '--connections', String(s.connections), '--warmup', String(warmupS), '--duration', String(durationS)];
}

/** The load generator's arguments for the open loop at `share` of the fixed rate. */
function openLoop(s: BenchSettings, share: number): string[] {
  return ['--mode', 'open', '--rate', String(s.rate * share), '--warmup', String(s.openWarmupS), '--duration', String(s.openS)];
}

/**
 * CPU µs per request of a slice from the load generator's CPU window, less what the process
 * spends idle over as long (`idleCpuPerSecond`); undefined without a window or a request in it.
 */
export function cpuPerRequest(r: Pick<LoadResult, 'cpu'>, idleCpuPerSecond = 0): number | undefined {
  const cpu = r.cpu;
  if (cpu === null || cpu.requests <= 0) return undefined;
  return Math.max(0, cpu.us - idleCpuPerSecond * cpu.window_s) / cpu.requests;
}

/** One slice of one phase on one target: closed loop at saturation, or the open loop at the fixed rate. */
async function measure(target: Target, phase: Phase, s: BenchSettings, focus: Focus): Promise<LoadResult> {
  focus.runOnly([target.pid]);
  const t0 = await target.redisTrips?.();
  const buckets0 =
    phase === 'fixed' && target.roundTripMedians && target.adminUrl ? await redisRoundTripBuckets(target.adminUrl) : undefined;
  // At saturation the load generator reads the target's CPU time where its measured window opens
  // and closes, with the load on: neither the slice's warm-up nor its connections opening and
  // closing, nor the metrics scrapes around it count.
  const cpuArgs = phase === 'saturation' && target.pid !== undefined ? ['--cpu-pid', String(target.pid)] : [];
  const r = await loadgen(target.url, [
    ...(phase === 'saturation' ? closedLoop(s, s.saturationWarmupS, s.saturationS) : openLoop(s, target.rateShare ?? 1)),
    ...target.loadArgs,
    ...cpuArgs,
  ]);
  const t1 = await target.redisTrips?.();
  if (buckets0 && target.adminUrl && target.roundTripMedians) {
    const buckets1 = await redisRoundTripBuckets(target.adminUrl);
    const median = buckets1 ? roundTripMedianMs(buckets0, buckets1) : undefined;
    if (median !== undefined) target.roundTripMedians.push(median);
  }
  if (phase === 'saturation') target.cpuPerRequest.push(cpuPerRequest(r, target.idleCpuPerSecond));
  if (target.trips && t0 !== undefined && t1 !== undefined) {
    target.trips[phase].trips += t1 - t0;
    target.trips[phase].requests += r.total_requests;
  }
  target[phase].push(r);
  target.requests += r.total_requests;
  log(
    `${target.key.padEnd(13)} ` +
      (phase === 'saturation'
        ? `${String(Math.round(r.achieved_rps)).padStart(6)} rps saturated` +
          (target.cpuPerRequest.at(-1) !== undefined ? `, ${(target.cpuPerRequest.at(-1) ?? 0).toFixed(1)} µs CPU/request` : '')
        : `at ${s.rate * (target.rateShare ?? 1)}/s p50 ${String(r.latency_ms.p50)} ms, p99 ${String(r.latency_ms.p99)} ms`) +
      (non2xx([r]) > 0 ? `; ${non2xx([r])} non-2xx/errors` : ''),
  );
  return r;
}

/**
 * One phase of a round: the direct client, then bare, variant, bare, variant, …, bare — each
 * variant between two bare-proxy slices of the same phase, measured just before and just after it.
 */
async function phaseRound(
  direct: Target,
  bare: Target,
  variants: readonly Target[],
  phase: Phase,
  s: BenchSettings,
  focus: Focus,
): Promise<void> {
  await measure(direct, phase, s, focus);
  let before = await measure(bare, phase, s, focus);
  let beforeCpu = bare.cpuPerRequest.at(-1);
  for (const target of variants) {
    await measure(target, phase, s, focus);
    const pair = target.pair;
    if (pair && phase === 'fixed') {
      focus.runOnly([pair.target.pid]);
      const r = await loadgen(pair.target.url, [...openLoop(s, target.rateShare ?? 1), ...pair.target.loadArgs]);
      pair.fixed.push(r);
      log(
        `${pair.target.key.padEnd(13)} at ${s.rate * (target.rateShare ?? 1)}/s p50 ${String(r.latency_ms.p50)} ms (paired with ${target.key})`,
      );
    }
    const after = await measure(bare, phase, s, focus);
    target.baseline[phase].push([before, after]);
    if (phase === 'saturation') (target.bareCpu ??= []).push([beforeCpu, bare.cpuPerRequest.at(-1)]);
    before = after;
    beforeCpu = bare.cpuPerRequest.at(-1);
  }
}

/**
 * A target's figures. For a gateway variant every figure relative to the bare proxy is the median
 * over its slices of the comparison with the bare proxy's slices measured just before and just
 * after it: a shared machine's load changes by the second, and adjacent slices see nearly the
 * same load.
 */
function figures(target: Target): VariantFigures {
  const rps = median(target.saturation.map((r) => r.achieved_rps)) ?? 0;
  // Both empty for the direct client and the bare proxy themselves. The bare proxy's figure for a
  // slice: the mean of the slices just before and just after it, which cancels a load that rises
  // or falls steadily across the three.
  const { saturation: satPairs, fixed: fixedPairs } = target.baseline;
  const ratio = median(
    satPairs.flatMap(([before, after], i) => {
      const mine = target.saturation[i]?.achieved_rps;
      const theirs = (before.achieved_rps + after.achieved_rps) / 2;
      return mine === undefined || theirs <= 0 ? [] : [mine / theirs];
    }),
  );
  const diff = (q: 'p50' | 'p99'): number | null => {
    const d = fixedPairs.flatMap(([before, after], i) => {
      const mine = target.fixed[i]?.latency_ms[q];
      const b = before.latency_ms[q];
      const a = after.latency_ms[q];
      return mine === null || mine === undefined || b === null || a === null ? [] : [mine - (a + b) / 2];
    });
    const m = median(d);
    return m === null ? null : ms3(m);
  };
  const cpu = median(target.cpuPerRequest.flatMap((c) => (c === undefined ? [] : [c])));
  const cpuRounds = roundRatios(target.cpuPerRequest.slice(0, satPairs.length), target.bareCpu ?? []);
  const cpuRatio = median(cpuRounds);
  const p = (q: 'p50' | 'p99'): number | null => {
    const m = median(target.fixed.flatMap((r) => (r.latency_ms[q] === null ? [] : [r.latency_ms[q]])));
    return m === null ? null : ms3(m);
  };
  return {
    rps: Math.round(rps),
    rps_ratio: ratio === null ? null : round3(ratio),
    added_p50_ms: diff('p50'),
    added_p99_ms: diff('p99'),
    p50_ms: p('p50'),
    p99_ms: p('p99'),
    non_2xx: non2xx([...target.saturation, ...target.fixed]),
    cpu_us_per_request: cpu === null ? null : Math.round(cpu * 10) / 10,
    cpu_ratio: cpuRatio === null ? null : round3(cpuRatio),
    cpu_ratio_rounds: cpuRounds.map(round3),
  };
}

/**
 * Per round: a variant's slice over the mean of the bare proxy's slices just before and just
 * after it (`bare[i]`); a round missing one of the three is left out.
 */
export function roundRatios(
  mine: readonly (number | undefined)[],
  bare: readonly (readonly [number | undefined, number | undefined])[],
): number[] {
  return mine.flatMap((m, i) => {
    const before = bare[i]?.[0];
    const after = bare[i]?.[1];
    return m === undefined || before === undefined || after === undefined || before + after <= 0 ? [] : [m / ((before + after) / 2)];
  });
}

/** The lowest and highest of the rounds' ratios, as `1.17–1.76` ('-' without rounds). */
function spread(rounds: readonly number[] | number | null | undefined): string {
  if (!Array.isArray(rounds) || rounds.length === 0) return '-';
  return `${Math.min(...rounds).toFixed(2)}–${Math.max(...rounds).toFixed(2)}`;
}

function table(summary: BenchSummary): string {
  const cell = (v: number | null | undefined, width: number): string => String(v ?? '-').padStart(width);
  const row = (name: string, f: { readonly [K in keyof VariantFigures]?: VariantFigures[K] | number | null }): string =>
    [
      name.padEnd(30),
      cell(f.rps, 8),
      cell(f.rps_ratio, 7),
      cell(f.p50_ms, 9),
      cell(f.p99_ms, 9),
      cell(f.added_p50_ms, 10),
      cell(f.added_p99_ms, 10),
      cell(f.cpu_us_per_request, 10),
      cell(f.cpu_ratio, 9),
      spread(f.cpu_ratio_rounds).padStart(11),
    ].join(' ');
  const lines = [
    `${'target'.padEnd(30)} ${'rps'.padStart(8)} ${'ratio'.padStart(7)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'+p50 ms'.padStart(10)} ${'+p99 ms'.padStart(10)} ${'CPU µs/req'.padStart(10)} ${'CPU ratio'.padStart(9)} ${'rounds'.padStart(11)}` +
      `   (latency at ${summary.fixed_rate}/s, open loop; CPU: process time per request at saturation${summary.cpus ? `; pinned to ${summary.cpus} CPU(s)` : ''})`,
    row('direct', { rps: summary.direct_rps, p50_ms: summary.direct_p50_ms, p99_ms: summary.direct_p99_ms }),
    row('bare proxy', {
      rps: summary.bare_proxy_rps,
      rps_ratio: 1,
      p50_ms: summary.bare_proxy_p50_ms,
      p99_ms: summary.bare_proxy_p99_ms,
      added_p50_ms: 0,
      added_p99_ms: 0,
      cpu_us_per_request: summary.bare_proxy_cpu_us_per_request,
      cpu_ratio: 1,
    }),
  ];
  for (const v of BENCH_VARIANTS) {
    const f = summary[v];
    lines.push(f ? row(`gateway ${v}`, f) : `${`gateway ${v}`.padEnd(30)} ${summary.gateway[v]}`);
  }
  lines.push(
    `fallback over a direct answer from the second tier: +${summary.fallback_over_second_tier_p50_ms ?? '-'} ms p50 (target ≤ 1 ms)`,
  );
  lines.push(
    `redis round trips per request: ${summary.redis_calls_per_request ?? '-'}${summary.redis_calls_source ? ` (${summary.redis_calls_source})` : ''}; ` +
      `at saturation ${summary.redis_calls_per_request_saturated ?? '-'}, at ${summary.fixed_rate}/s ${summary.redis_calls_per_request_fixed_rate ?? '-'}; ` +
      `checks per request ${summary.redis_checks_per_request ?? '-'}; round trip p50 at ${summary.fixed_rate}/s ${summary.redis_round_trip_p50_ms_fixed_rate ?? '-'} ms` +
      (summary.redis_calls_per_request_unbatched === null ? '' : `; unbatched ${summary.redis_calls_per_request_unbatched}`),
  );
  return lines.join('\n');
}

/**
 * The fallback variant's p50 at its rate minus the routing variant's in the slice measured just
 * after it at the same rate: what walking the chain adds over a direct answer from the second
 * tier (median over the rounds, ms).
 */
function fallbackOverSecond(target: Target | undefined): number | null {
  const pair = target?.pair;
  if (!target || !pair) return null;
  const d = target.fixed.flatMap((r, i) => {
    const mine = r.latency_ms.p50;
    const theirs = pair.fixed[i]?.latency_ms.p50;
    return mine === null || theirs === null || theirs === undefined ? [] : [mine - theirs];
  });
  const m = median(d);
  return m === null ? null : ms3(m);
}

export function parseBenchArgs(argv: readonly string[]): BenchSettings {
  const s = { ...(argv.includes('--quick') ? QUICK : FULL) };
  const value = (flag: string): number | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const n = Number(argv[i + 1]);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} wants a positive number`);
    return n;
  };
  s.rounds = Math.floor(value('--rounds') ?? s.rounds);
  s.rate = value('--rate') ?? s.rate;
  s.connections = Math.floor(value('--connections') ?? s.connections);
  s.saturationS = value('--duration') ?? s.saturationS;
  s.openS = value('--duration') ?? s.openS;
  s.warmupS = value('--warmup') ?? s.warmupS;
  const cpus = value('--cpus');
  if (cpus !== undefined) s.cpus = Math.floor(cpus);
  const only = argv.indexOf('--variants');
  if (only >= 0) {
    const names = (argv[only + 1] ?? '').split(',').filter((n) => n !== '');
    const unknown = names.filter((n) => !(BENCH_VARIANTS as readonly string[]).includes(n));
    if (names.length === 0 || unknown.length > 0) {
      throw new Error(
        `--variants wants a comma-separated list of ${BENCH_VARIANTS.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`,
      );
    }
    s.variants = BENCH_VARIANTS.filter((v) => names.includes(v));
  }
  return s;
}

/**
 * $REDIS_URL when set; otherwise a redis-server of our own on a free port, so that its command
 * counts are the gateway's alone (a shared 6379 may be busy with tests), falling back to the
 * Redis on 6379 when redis-server is not installed.
 */
async function benchRedis(): Promise<RedisServer> {
  const url = process.env['REDIS_URL'];
  if (url !== undefined) return ensureRedis(url, { log });
  try {
    return await ensureRedis(`redis://127.0.0.1:${await freePort()}`, { log });
  } catch (err) {
    log(`no private redis-server (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); trying ${DEFAULT_REDIS_URL}`);
    return ensureRedis(DEFAULT_REDIS_URL, { log });
  }
}

export async function runBench(argv: readonly string[]): Promise<BenchSummary> {
  const s = parseBenchArgs(argv);
  if (s.cpus !== undefined) {
    // Children inherit the affinity: the mock, the proxies, Redis and every load generator share these CPUs.
    pinToCpus(s.cpus);
    log(`every process pinned to ${s.cpus} CPU(s) (taskset)`);
  }
  const services: Service<unknown>[] = [];
  const gateways: RunningGateway[] = [];
  // Gateways not measured in a slice are paused (harness/focus.ts).
  const focus = new Focus();
  const dirs: string[] = [];
  let redis: RedisServer | undefined;
  const gatewayState = {
    routing: 'not run',
    limits_memory: 'not run',
    limits_redis: 'not run',
    limits_redis_unbatched: 'not run (full run only)',
    cache_hit: 'not run',
    cache_miss: 'not run',
    cache_miss_redis: 'not run (full run only)',
    fallback: 'not run',
  } satisfies Record<BenchVariant, string>;
  const cacheGateways: { variant: 'cache_hit' | 'cache_miss' | 'cache_miss_redis'; adminUrl: string }[] = [];
  try {
    const mocks = await startJsonService<{ mocks: { name: string; port: number; url: string }[] }>(
      MOCKS,
      [
        '--spec',
        JSON.stringify([
          { name: BENCH_SERVICE, kind: 'trivial' },
          // The fallback variant's primary: every request answered 503 at once.
          { name: BENCH_PRIMARY, kind: 'trivial', errorRate: 1, errorStatuses: [503] },
        ]),
      ],
      { name: 'mock' },
    );
    services.push(mocks);
    const upstream = mocks.info.mocks.find((m) => m.name === BENCH_SERVICE);
    const primary = mocks.info.mocks.find((m) => m.name === BENCH_PRIMARY);
    if (!upstream || !primary) throw new Error('the mock upstreams did not start');
    // The baseline runs with the gateway's own V8 flags (its young generation, no memory reducer):
    // the comparison is of what each does per request, not of their heap settings.
    const bare = await startJsonService<{ url: string }>(BARE_PROXY, ['--upstream', upstream.url], {
      name: 'bare-proxy',
      nodeFlags: gatewayAvailable() ? gatewayNodeFlags() : [],
    });
    services.push(bare);
    const bareSlot = newTarget('bare_proxy', bare.info.url);
    if (bare.child.pid !== undefined) bareSlot.pid = bare.child.pid;
    const targets: Target[] = [newTarget('direct', upstream.url), bareSlot];

    let redisTarget: { target: Target; gateway: RunningGateway } | undefined;
    let unbatchedTarget: { target: Target; gateway: RunningGateway } | undefined;
    if (!gatewayAvailable()) {
      log(`THE GATEWAY IS NOT BUILT: ${GATEWAY_MAIN} does not exist. Measuring direct and bare proxy only; gateway figures are null.`);
      for (const v of s.variants) gatewayState[v] = 'not built';
    } else {
      for (const variant of s.variants) {
        try {
          if (onRedis(variant)) redis ??= await benchRedis();
          const dir = await mkdtemp(join(tmpdir(), `jarvis-bench-${variant}-`));
          dirs.push(dir);
          trackDir(dir);
          await writeFile(join(dir, 'bench.yaml'), toYamlDocuments(benchManifests(variant, upstream.port, primary.port)));
          const gateway = await startGateway({
            configDir: dir,
            extraArgs: benchGatewayArgs(variant),
            ...(onRedis(variant) && redis ? { redisUrl: redis.url } : {}),
          });
          gateways.push(gateway);
          focus.add(gateway.pid);
          const probe = await fetch(`${gateway.url}/`, { headers: BENCH_HEADERS });
          const body = await probe.text();
          if (probe.status !== 200) throw new Error(`GET / through the gateway answered ${probe.status}: ${body.slice(0, 300)}`);
          if (variant === 'fallback' && probe.headers.get('x-jarvis-fallback') !== 'second')
            throw new Error(
              `GET / through the fallback chain: answered by ${probe.headers.get('x-jarvis-fallback') ?? 'no step'}, not by the second`,
            );
          if (caching(variant)) {
            // The cache is on: the same request again is a hit.
            const again = await fetch(`${gateway.url}/`, { headers: BENCH_HEADERS });
            await again.text();
            const said = again.headers.get('x-jarvis-cache');
            if (said !== 'hit-l1') throw new Error(`GET / twice through the cache: the second said x-jarvis-cache ${said ?? 'nothing'}`);
            cacheGateways.push({ variant, adminUrl: gateway.adminUrl });
          }
          const target = newTarget(variant, gateway.url, benchLoadArgs(variant));
          if (variant === 'fallback') {
            // Latency, not capacity: a fifth of the rate keeps both gateways (two upstream calls per
            // request for this one) far from saturation on a shared machine.
            target.rateShare = 0.2;
            const routing = targets.find((t) => t.key === 'routing');
            if (routing) target.pair = { target: routing, fixed: [] };
          }
          if (gateway.pid !== undefined) target.pid = gateway.pid;
          targets.push(target);
          if (variant === 'limits_redis') {
            redisTarget = { target, gateway };
            target.redisTrips = () => gatewayRedisCommands(gateway.adminUrl);
            target.trips = { saturation: { trips: 0, requests: 0 }, fixed: { trips: 0, requests: 0 } };
            target.roundTripMedians = [];
            target.adminUrl = gateway.adminUrl;
          }
          if (variant === 'limits_redis_unbatched') unbatchedTarget = { target, gateway };
          gatewayState[variant] = 'ok';
          log(`gateway ${variant} ready at ${gateway.url} (admin ${gateway.adminUrl}, log ${gateway.logFile})`);
        } catch (err) {
          gatewayState[variant] = `failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
          log(`gateway ${variant}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }

    const redisBefore =
      redisTarget && redis
        ? {
            metric: await gatewayRedisCommands(redisTarget.gateway.adminUrl),
            checks: await gatewayRedisChecks(redisTarget.gateway.adminUrl),
            scripts: scriptCalls(await redisCommandCalls(redis.url)),
          }
        : undefined;
    const unbatchedBefore = unbatchedTarget ? await gatewayRedisCommands(unbatchedTarget.gateway.adminUrl) : undefined;
    // Every process gets a few seconds of load first, so the rounds measure optimized code and a
    // heap at its working size: a gateway process is fresh (see BenchSettings.warmupS).
    log(`warm-up: ${s.warmupS} s of load on every target`);
    for (const target of targets) {
      const warm = await loadgen(target.url, [...closedLoop(s, 0, s.warmupS), ...target.loadArgs]);
      target.requests += warm.total_requests;
    }
    // What each process costs with no load at all (its timers, its own metrics): measured over one
    // idle second and taken out of each slice, so CPU per request is the requests' own. It starts
    // IDLE_SETTLE_MS after the last warm-up: what a process still does about the load it just had
    // (compiling, collecting) is not idle.
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const readAll = () => Promise.all(targets.map((t) => (t.pid === undefined ? undefined : readCpu(t.pid))));
    const idle0 = await readAll();
    const idleStart = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, 1000));
    const idle1 = await readAll();
    const idleSeconds = Number(process.hrtime.bigint() - idleStart) / 1e9;
    targets.forEach((t, i) => {
      const a = idle0[i];
      const b = idle1[i];
      const us = a !== undefined && b !== undefined ? cpuBetween(a, b) : undefined;
      if (us !== undefined) {
        t.idleCpuPerSecond = us / idleSeconds;
        log(`${t.key} idle: ${Math.round(t.idleCpuPerSecond / 1000)} ms CPU per second`);
      }
    });
    const [directSlot, , ...variants] = targets as [Target, Target, ...Target[]];
    for (let round = 1; round <= s.rounds; round++) {
      log(
        `round ${round}/${s.rounds}: ${s.connections} connections for ${s.saturationS}s per target, then ${s.rate}/s for ${s.openS}s per target; ` +
          'in each phase the bare proxy again before and after each gateway variant',
      );
      await phaseRound(directSlot, bareSlot, variants, 'saturation', s, focus);
      await phaseRound(directSlot, bareSlot, variants, 'fixed', s, focus);
    }
    focus.resumeAll();
    let redisCalls: number | null = null;
    let redisSource: BenchSummary['redis_calls_source'] = null;
    let redisChecks: number | null = null;
    let redisSaturated: number | null = null;
    let redisFixed: number | null = null;
    let redisUnbatched: number | null = null;
    // The unbatched gateway's round trips, from its own counter (it shares the Redis).
    let unbatchedTrips = 0;
    if (unbatchedTarget && unbatchedBefore !== undefined) {
      const after = await gatewayRedisCommands(unbatchedTarget.gateway.adminUrl);
      if (after !== undefined) {
        unbatchedTrips = after - unbatchedBefore;
        redisUnbatched = round3(unbatchedTrips / unbatchedTarget.target.requests);
        log(`unbatched Redis variant: ${redisUnbatched} round trips per request over ${unbatchedTarget.target.requests} requests`);
      }
    }
    if (redisTarget && redis && redisBefore) {
      const metric = await gatewayRedisCommands(redisTarget.gateway.adminUrl);
      const scripts = scriptCalls(await redisCommandCalls(redis.url));
      const requests = redisTarget.target.requests;
      const fromMetric = metric !== undefined && redisBefore.metric !== undefined ? (metric - redisBefore.metric) / requests : undefined;
      const fromRedis = (scripts - redisBefore.scripts - unbatchedTrips) / requests;
      log(
        `Redis round trips per request: ${fromMetric === undefined ? 'no' : fromMetric.toFixed(3)} (gateway's jarvis_gateway_redis_round_trips_total), ` +
          `${fromRedis.toFixed(3)} (script calls in Redis INFO commandstats over ${requests} requests)`,
      );
      // The gateway's own count when it has one; Redis's count otherwise (exact when nothing else uses that Redis).
      if (fromMetric !== undefined && fromMetric > 0) {
        redisCalls = fromMetric;
        redisSource = 'gateway_metric';
      } else {
        redisCalls = fromRedis;
        redisSource = 'redis_commandstats';
      }
      redisCalls = round3(redisCalls);
      const checks = await gatewayRedisChecks(redisTarget.gateway.adminUrl);
      if (checks !== undefined && redisBefore.checks !== undefined) redisChecks = round3((checks - redisBefore.checks) / requests);
      const phase = redisTarget.target.trips;
      if (phase) {
        if (phase.saturation.requests > 0) redisSaturated = round3(phase.saturation.trips / phase.saturation.requests);
        if (phase.fixed.requests > 0) redisFixed = round3(phase.fixed.trips / phase.fixed.requests);
      }
      log(
        `Redis checks per request: ${redisChecks ?? '-'}; round trips per request at saturation ${redisSaturated ?? '-'}, ` +
          `at ${s.rate}/s ${redisFixed ?? '-'}`,
      );
    }

    // What the cache variants really did: hits for the hit variant, misses for the miss variants.
    const cacheOutcomes: BenchSummary['cache_outcomes'] = {};
    for (const { variant, adminUrl } of cacheGateways) {
      const outcomes: Record<string, number> = {};
      for (const result of ['hit_l1', 'hit_l2', 'coalesced', 'stale', 'miss', 'bypass', 'stored', 'not_stored']) {
        const n = await scrapeMetric(`${adminUrl}/metrics`, 'jarvis_gateway_cache_requests_total', { policy: 'bench/bench-cache', result });
        if (n !== undefined && n > 0) outcomes[result] = n;
      }
      cacheOutcomes[variant] = outcomes;
      log(`${variant}: requests by cache outcome ${JSON.stringify(outcomes)}`);
    }

    const byKey = new Map(targets.map((t) => [t.key, t]));
    const bareTarget = byKey.get('bare_proxy');
    const direct = byKey.get('direct');
    const directFig = direct ? figures(direct) : undefined;
    const bareFig = bareTarget ? figures(bareTarget) : undefined;
    const variantFig = (v: BenchVariant): VariantFigures | null => {
      const t = byKey.get(v);
      return t ? figures(t) : null;
    };
    const fallbackFig = variantFig('fallback');
    const routingFig = variantFig('routing');
    const summary: BenchSummary = {
      direct_rps: directFig?.rps ?? null,
      bare_proxy_rps: bareFig?.rps ?? null,
      bare_proxy_cpu_us_per_request: bareFig?.cpu_us_per_request ?? null,
      cpus: s.cpus ?? null,
      routing: routingFig,
      limits_memory: variantFig('limits_memory'),
      limits_redis: variantFig('limits_redis'),
      limits_redis_unbatched: variantFig('limits_redis_unbatched'),
      cache_hit: variantFig('cache_hit'),
      cache_miss: variantFig('cache_miss'),
      cache_miss_redis: variantFig('cache_miss_redis'),
      fallback: fallbackFig,
      fallback_over_second_tier_p50_ms: fallbackOverSecond(byKey.get('fallback')),
      cache_outcomes: cacheOutcomes,
      redis_calls_per_request: redisCalls,
      redis_calls_per_request_unbatched: redisUnbatched,
      redis_calls_source: redisSource,
      redis_calls_per_request_saturated: redisSaturated,
      redis_calls_per_request_fixed_rate: redisFixed,
      redis_checks_per_request: redisChecks,
      redis_round_trip_p50_ms_fixed_rate: (() => {
        const m = median(redisTarget?.target.roundTripMedians ?? []);
        return m === null ? null : ms3(m);
      })(),
      direct_p50_ms: directFig?.p50_ms ?? null,
      direct_p99_ms: directFig?.p99_ms ?? null,
      bare_proxy_p50_ms: bareFig?.p50_ms ?? null,
      bare_proxy_p99_ms: bareFig?.p99_ms ?? null,
      fixed_rate: s.rate,
      rounds: s.rounds,
      gateway: gatewayState,
    };
    process.stdout.write(`${table(summary)}\n`);
    return summary;
  } finally {
    focus.resumeAll();
    await Promise.allSettled(gateways.map((g) => g.stop()));
    await Promise.allSettled(services.map((x) => x.stop()));
    await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
    await redis?.stop();
  }
}
