#!/usr/bin/env node
/**
 * Load generator, run in a process of its own (the target gets the other cores).
 *
 * Open loop (`--mode open`): request i is due at start + i/rate and is sent then, whether or not
 * earlier requests have returned; its latency runs from that scheduled time to the end of its
 * response, so a stalled target is charged for every request it delayed (no coordinated omission).
 * A ticker thread wakes the scheduler `--spin-ms` before each slot and it polls the event loop
 * (setImmediate) for the rest; how late requests actually left is reported as `send_lag_ms`.
 *
 * Closed loop (`--mode closed`): C workers, each sending its next request when the previous one
 * returns, on a pool of C connections — the saturation throughput.
 *
 * Requests go through an undici Pool (keep-alive, no pipelining). Output: one JSON line on stdout.
 *
 * `--cpu-pid PID` also reports the CPU time process PID (the target) spent over the measured
 * window alone — read from /proc where the window opens and where it closes, with the load on —
 * and the requests that ended between the two readings (`cpu`; harness/cpu.ts, CpuWindow).
 *
 *   node bench/dist/loadgen.js --url http://127.0.0.1:8080/ --mode open --rate 1000 --duration 10
 *   node bench/dist/loadgen.js --url http://127.0.0.1:8080/ --mode closed --connections 32 --duration 10 --cpu-pid 4242
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

import { type Dispatcher, Pool } from 'undici';

import { monotonicNs, startTicker } from './clock.js';
import { CpuWindow, type CpuWindowResult } from './harness/cpu.js';
import { type LatencySummary, LatencyRecorder } from './stats.js';

export interface TargetOptions {
  /** Full URL: origin and path (with query). */
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Connections of the undici Pool. */
  connections: number;
  /** Per-request headers and body timeout (ms). */
  timeoutMs?: number;
  /**
   * Adds this query parameter with a value of its own to every request (`<run>-<counter>`, the run
   * part random per process), so that no two requests are the same — a cache misses on each.
   */
  uniqueQuery?: string;
  /** Reads this process's CPU time where the measured window opens and closes (`LoadResult.cpu`). */
  cpuPid?: number;
}

export interface OpenLoopOptions extends TargetOptions {
  /** Requests per second. */
  rate: number;
  /** Measured seconds, after the warm-up. */
  durationS: number;
  /** Seconds sent on the same schedule before measuring (not recorded). */
  warmupS: number;
  /** How long to wait for outstanding responses after the last send (ms). */
  drainTimeoutMs?: number;
  /** The ticker wakes the sender this long before each slot, which polls the event loop for the rest (ms). */
  spinMs?: number;
}

export interface ClosedLoopOptions extends TargetOptions {
  durationS: number;
  warmupS: number;
}

export interface LoadResult {
  mode: 'open' | 'closed';
  url: string;
  connections: number;
  duration_s: number;
  /** Target rate (open loop). */
  rate: number | null;
  /** Requests sent in the measured window. */
  sent: number;
  /** Responses to them (any status). */
  completed: number;
  /** Responses per second over the measured window. */
  achieved_rps: number;
  latency_ms: LatencySummary;
  /** Open loop: how late requests left against their schedule. */
  send_lag_ms: { p50: number | null; p99: number | null; max: number | null } | null;
  /** Responses by status (measured window). */
  status: Record<string, number>;
  /** Failures without a response, by error code (measured window). */
  errors: Record<string, number>;
  /** Every request sent, warm-up included (for per-request ratios of counters read outside). */
  total_requests: number;
  /**
   * With `--cpu-pid`: that process's CPU time over the measured window and the requests that ended
   * in it; null without the flag, or when /proc could not be read.
   */
  cpu: CpuWindowResult | null;
}

interface Sender {
  pool: Pool;
  /** Sends one request and calls `done` once with its status, or with the error that ended it. The body is read and discarded. */
  send(done: (status: number, err: Error | undefined) => void): void;
}

const DUMP_LIMIT = 16 * 1024 * 1024;

class BodyTooLong extends Error {
  readonly code = 'body_over_dump_limit';
  constructor() {
    super(`response body over ${DUMP_LIMIT} bytes`);
  }
}

/**
 * One exchange as an undici dispatch handler: the status is kept, body chunks are counted and
 * dropped, and `done` runs once at the end. No response stream and no promise per request, so the
 * generator spends its CPU on sending and receiving, not on itself: on a 2-core machine the load
 * generator shares the cores with its target, and undici's `request` with a body stream cost it
 * about as much per request as the proxy being measured.
 */
class Exchange implements Dispatcher.DispatchHandler {
  #status = 0;
  #bytes = 0;
  constructor(readonly done: (status: number, err: Error | undefined) => void) {}
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number): void {
    if (statusCode >= 200) this.#status = statusCode;
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (this.#bytes > DUMP_LIMIT) controller.abort(new BodyTooLong());
  }
  onResponseEnd(): void {
    this.done(this.#status, undefined);
  }
  onResponseError(_c: Dispatcher.DispatchController | undefined, err: Error): void {
    this.done(this.#status, err);
  }
}

function sender(opts: TargetOptions): Sender {
  const url = new URL(opts.url);
  const pool = new Pool(url.origin, {
    connections: opts.connections,
    pipelining: 1,
    headersTimeout: opts.timeoutMs ?? 10_000,
    bodyTimeout: opts.timeoutMs ?? 10_000,
    keepAliveTimeout: 60_000,
  });
  const method = (opts.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod;
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
    headers['content-type'] = 'application/json';
  const request: Dispatcher.DispatchOptions = { path: `${url.pathname}${url.search}`, method, headers, body: opts.body ?? null };
  const unique = opts.uniqueQuery;
  if (unique !== undefined) {
    const prefix = `${request.path}${url.search === '' ? '?' : '&'}${encodeURIComponent(unique)}=${randomBytes(6).toString('hex')}-`;
    let n = 0;
    return {
      pool,
      send(done) {
        pool.dispatch({ ...request, path: `${prefix}${n++}` }, new Exchange(done));
      },
    };
  }
  return {
    pool,
    send(done) {
      pool.dispatch(request, new Exchange(done));
    },
  };
}

function errorKey(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.name : 'error';
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/**
 * The CPU window of a run with `cpuPid`: `open()` at the measured window's start (a timer),
 * `close()` at its end; `close()` waits for the opening reading, so a window shorter than a
 * reading still closes after it opened.
 */
function cpuWindow(opts: TargetOptions, measureStartNs: number): { window: CpuWindow; close: () => Promise<void> } | undefined {
  if (opts.cpuPid === undefined) return undefined;
  const window = new CpuWindow(opts.cpuPid, monotonicNs);
  const opened = new Promise<void>((resolve) => {
    setTimeout(() => void window.open().then(resolve), Math.max(0, (measureStartNs - monotonicNs()) / 1e6));
  });
  return { window, close: () => opened.then(() => window.close()) };
}

function result(
  base: Pick<LoadResult, 'mode' | 'rate' | 'send_lag_ms' | 'total_requests' | 'sent' | 'cpu'>,
  opts: TargetOptions & { durationS: number },
  latencies: LatencyRecorder,
  status: Map<string, number>,
  errors: Map<string, number>,
  windowNs: number,
): LoadResult {
  const completed = latencies.count;
  return {
    ...base,
    url: opts.url,
    connections: opts.connections,
    duration_s: opts.durationS,
    completed,
    achieved_rps: windowNs > 0 ? Math.round((completed / (windowNs / 1e9)) * 10) / 10 : 0,
    latency_ms: latencies.summary(),
    status: Object.fromEntries(status),
    errors: Object.fromEntries(errors),
  };
}

export async function runOpenLoop(opts: OpenLoopOptions): Promise<LoadResult> {
  if (!(opts.rate > 0)) throw new Error('rate must be positive');
  const { pool, send } = sender(opts);
  const intervalNs = 1e9 / opts.rate;
  const warmup = Math.round(opts.rate * opts.warmupS);
  const total = warmup + Math.round(opts.rate * opts.durationS);
  const spinNs = (opts.spinMs ?? 0.25) * 1e6;
  const latencies = new LatencyRecorder(total - warmup);
  const lags = new LatencyRecorder(total - warmup);
  const status = new Map<string, number>();
  const errors = new Map<string, number>();
  let outstanding = 0;
  let lastEndNs = 0;
  // Set once the drain time is over: what fails after it (the pool being destroyed) is counted apart.
  let closed = false;
  let onIdle: (() => void) | undefined;
  // Leave the ticker thread a moment to start, so the schedule does not begin in a burst.
  const start = monotonicNs() + 50e6;
  const measureStart = start + warmup * intervalNs;
  const cpu = cpuWindow(opts, measureStart);
  let cpuClosed: Promise<void> | undefined;

  const fire = (i: number, dueNs: number, nowNs: number): void => {
    const measured = i >= warmup;
    if (measured) lags.recordNs(nowNs - dueNs);
    outstanding++;
    send((code, err) => {
      cpu?.window.ended();
      if (err === undefined) {
        const end = monotonicNs();
        if (measured && !closed) {
          latencies.recordNs(end - dueNs);
          bump(status, String(code));
          if (end > lastEndNs) lastEndNs = end;
        }
      } else if (measured && !closed) bump(errors, errorKey(err));
      if (--outstanding === 0) onIdle?.();
    });
  };

  await new Promise<void>((resolve) => {
    let i = 0;
    let finished = false;
    // Sends everything due; the ticker wakes this `spinNs` before each slot, and while the next
    // slot is closer than that the event loop is polled until it is due.
    const tick = (): void => {
      if (finished) return;
      const now = monotonicNs();
      let due = start + i * intervalNs;
      while (i < total && due <= now) {
        fire(i, due, now);
        i++;
        due = start + i * intervalNs;
      }
      if (i >= total) {
        finished = true;
        // The window ends with the last send, while the load is still on.
        cpuClosed = cpu?.close();
        void ticker.stop().then(resolve);
      } else if (due - monotonicNs() < spinNs) setImmediate(tick);
    };
    const ticker = startTicker({ startNs: start, intervalNs, total, leadNs: spinNs }, tick, tick);
  });

  if (outstanding > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.drainTimeoutMs ?? 5_000);
      onIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  await cpuClosed;
  closed = true;
  await pool.destroy();
  const measuredSent = total - warmup;
  const lost = measuredSent - latencies.count - [...errors.values()].reduce((a, b) => a + b, 0);
  if (lost > 0) errors.set('no_response_before_drain_timeout', lost);
  const lag = lags.summary();
  return result(
    {
      mode: 'open',
      rate: opts.rate,
      sent: measuredSent,
      total_requests: total,
      send_lag_ms: { p50: lag.p50, p99: lag.p99, max: lag.max },
      cpu: cpu?.window.result() ?? null,
    },
    opts,
    latencies,
    status,
    errors,
    Math.max(lastEndNs - measureStart, opts.durationS * 1e9),
  );
}

export async function runClosedLoop(opts: ClosedLoopOptions): Promise<LoadResult> {
  const { pool, send } = sender(opts);
  const latencies = new LatencyRecorder(1 << 16);
  const status = new Map<string, number>();
  const errors = new Map<string, number>();
  const start = monotonicNs();
  const measureStart = start + opts.warmupS * 1e9;
  const end = measureStart + opts.durationS * 1e9;
  let total = 0;
  let sent = 0;
  // With a CPU window, the load goes on until its closing reading is taken.
  const cpu = cpuWindow(opts, measureStart);
  let loadDone = cpu === undefined;
  if (cpu) {
    setTimeout(
      () =>
        void cpu.close().then(() => {
          loadDone = true;
        }),
      Math.max(0, (end - monotonicNs()) / 1e6),
    );
  }

  // Each connection's worker sends its next request as soon as the previous one ends.
  await new Promise<void>((resolve) => {
    let running = opts.connections;
    const next = (): void => {
      const t0 = monotonicNs();
      if (t0 >= end && loadDone) {
        if (--running === 0) resolve();
        return;
      }
      total++;
      if (t0 >= measureStart && t0 < end) sent++;
      send((code, err) => {
        cpu?.window.ended();
        const t1 = monotonicNs();
        const inWindow = t1 >= measureStart && t1 < end;
        if (err === undefined) {
          if (inWindow) {
            latencies.recordNs(t1 - t0);
            bump(status, String(code));
          }
          next();
        } else {
          if (inWindow) bump(errors, errorKey(err));
          // A refused connection fails at once: do not spin on it.
          setTimeout(next, 1);
        }
      });
    };
    for (let c = 0; c < opts.connections; c++) next();
  });
  await pool.destroy();
  return result(
    { mode: 'closed', rate: null, sent, total_requests: total, send_lag_ms: null, cpu: cpu?.window.result() ?? null },
    opts,
    latencies,
    status,
    errors,
    end - measureStart,
  );
}

// ---- command line -------------------------------------------------------------------------------

export function parseLoadArgs(
  argv: readonly string[],
): { mode: 'open'; options: OpenLoopOptions } | { mode: 'closed'; options: ClosedLoopOptions } {
  const values = new Map<string, string>();
  const headers: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === undefined || !flag.startsWith('--') || value === undefined) throw new Error(`expected --flag value, got ${flag ?? ''}`);
    i++;
    if (flag === '--header') {
      const colon = value.indexOf(':');
      if (colon <= 0) throw new Error(`--header wants "name: value", got ${value}`);
      headers[value.slice(0, colon).trim().toLowerCase()] = value.slice(colon + 1).trim();
    } else values.set(flag.slice(2), value);
  }
  const known = new Set([
    'url',
    'mode',
    'rate',
    'duration',
    'warmup',
    'connections',
    'method',
    'body',
    'timeout-ms',
    'spin-ms',
    'drain-ms',
    'unique-query',
    'cpu-pid',
  ]);
  for (const k of values.keys()) if (!known.has(k)) throw new Error(`unknown flag --${k}`);
  const num = (name: string, fallback: number): number => {
    const raw = values.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
    return n;
  };
  const pid = (raw: string): number => {
    const n = Number(raw);
    if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(n) || n <= 0) throw new Error('--cpu-pid must be a process id');
    return n;
  };
  const url = values.get('url');
  if (url === undefined) throw new Error('--url is required');
  new URL(url);
  const mode = values.get('mode') ?? 'open';
  const base = {
    url,
    method: values.get('method') ?? 'GET',
    headers,
    ...(values.has('body') ? { body: values.get('body') } : {}),
    ...(values.has('unique-query') ? { uniqueQuery: values.get('unique-query') } : {}),
    ...(values.has('cpu-pid') ? { cpuPid: pid(values.get('cpu-pid') ?? '') } : {}),
    timeoutMs: num('timeout-ms', 10_000),
    durationS: num('duration', 10),
  };
  if (mode === 'open') {
    return {
      mode,
      options: {
        ...base,
        rate: num('rate', 1000),
        warmupS: num('warmup', 1),
        connections: Math.max(1, Math.floor(num('connections', 16))),
        spinMs: num('spin-ms', 0.25),
        drainTimeoutMs: num('drain-ms', 5_000),
      },
    };
  }
  if (mode === 'closed')
    return { mode, options: { ...base, warmupS: num('warmup', 2), connections: Math.max(1, Math.floor(num('connections', 32))) } };
  throw new Error('--mode must be open or closed');
}

async function main(argv: readonly string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseLoadArgs(argv);
  } catch (err) {
    process.stderr.write(
      `loadgen: ${err instanceof Error ? err.message : String(err)}\n` +
        'usage: loadgen --url URL [--mode open --rate R | --mode closed --connections C] [--duration S] [--warmup S]\n' +
        '               [--method M] [--header "name: value"]... [--body TEXT] [--timeout-ms MS] [--spin-ms MS]\n' +
        '               [--unique-query NAME] [--cpu-pid PID]\n',
    );
    process.exit(2);
  }
  const out = parsed.mode === 'open' ? await runOpenLoop(parsed.options) : await runClosedLoop(parsed.options);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
