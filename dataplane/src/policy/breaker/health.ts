/**
 * Active health checks (CircuitBreakerPolicy `activeHealthCheck`): each gateway probes each
 * endpoint of the backend on its own loop, off the request path.
 *
 * - A loop's first probe comes at a random point of its first interval, each next one an interval
 *   less up to a tenth at random after the previous one started (or when it ended, if it took
 *   longer): gateways (and endpoints) do not probe in step, and probes are never further apart
 *   than an interval plus the probe's own time.
 * - A probe is an HTTP request (method, path; passes on an expected status) or a TCP connect,
 *   and fails when it has not passed within the timeout. Probes use their own connections (one
 *   undici Agent for every loop), never the traffic pools, so a busy pool cannot fail a probe.
 * - The loop only reports each result; what it means (thresholds) is the endpoint's (endpoint.ts).
 */
import net from 'node:net';
import type { ActiveHealthCheckIR } from '@jarvis/api';
import { Agent } from 'undici';
import type { Clock, TimerHandle, Timers } from '../../clock.js';

/** Runs one probe and reports once whether it passed. */
export interface Prober {
  probe(origin: string, ir: ActiveHealthCheckIR, done: (passed: boolean) => void): void;
  close(): Promise<void>;
}

export interface ProberDeps {
  readonly timers: Timers;
}

/** The probes of a real gateway: HTTP through one shared Agent, TCP by connecting. */
export function createProber(deps: ProberDeps): Prober {
  const agent = new Agent({ connections: 2, pipelining: 1, keepAliveTimeout: 60_000 });
  const http = (origin: string, ir: ActiveHealthCheckIR, done: (passed: boolean) => void): void => {
    const spec = ir.http ?? { path: '/healthz', method: 'GET' as const, expectedStatuses: [200] };
    const controller = new AbortController();
    let settled = false;
    const settle = (passed: boolean): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      done(passed);
    };
    const timer = deps.timers.after(ir.timeoutMs, () => {
      settle(false);
      controller.abort();
    });
    agent
      .request({
        origin,
        path: spec.path,
        method: spec.method,
        headers: { 'user-agent': 'jarvis-gateway-health-check' },
        signal: controller.signal,
        headersTimeout: ir.timeoutMs,
        bodyTimeout: ir.timeoutMs,
      })
      .then(
        async (res) => {
          await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
          settle(spec.expectedStatuses.includes(res.statusCode));
        },
        () => settle(false),
      );
  };
  const tcp = (origin: string, ir: ActiveHealthCheckIR, done: (passed: boolean) => void): void => {
    const url = new URL(origin);
    const socket = net.connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) });
    let settled = false;
    const settle = (passed: boolean): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      socket.destroy();
      done(passed);
    };
    const timer = deps.timers.after(ir.timeoutMs, () => settle(false));
    socket.once('connect', () => settle(true));
    socket.once('error', () => settle(false));
  };
  return {
    probe(origin, ir, done) {
      if (ir.type === 'TCP') tcp(origin, ir, done);
      else http(origin, ir, done);
    },
    close: () => agent.close().catch(() => agent.destroy()),
  };
}

export interface HealthLoopDeps {
  /** Monotonic ms. */
  readonly clock: Clock;
  readonly timers: Timers;
  readonly random: () => number;
  readonly prober: Prober;
}

/** Probes one endpoint every interval until stopped. */
export class HealthLoop {
  #timer: TimerHandle | undefined;
  #running = false;
  /** Bumped by stop(): a probe in flight from before is ignored. */
  #epoch = 0;

  constructor(
    readonly origin: string,
    readonly ir: ActiveHealthCheckIR,
    private readonly deps: HealthLoopDeps,
    private readonly onResult: (passed: boolean) => void,
  ) {}

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(this.deps.random() * this.ir.intervalMs);
  }

  stop(): void {
    this.#running = false;
    this.#epoch++;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    this.#timer = this.deps.timers.after(ms, () => this.#probe());
  }

  #probe(): void {
    if (!this.#running) return;
    const epoch = this.#epoch;
    const started = this.deps.clock.now();
    this.deps.prober.probe(this.origin, this.ir, (passed) => {
      if (epoch !== this.#epoch || !this.#running) return;
      this.onResult(passed);
      const next = this.ir.intervalMs * (1 - 0.1 * this.deps.random());
      this.#schedule(Math.max(0, next - (this.deps.clock.now() - started)));
    });
  }
}
