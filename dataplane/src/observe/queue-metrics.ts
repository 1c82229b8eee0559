/**
 * Metrics of the queues (QueuePolicy): per gate (label `queue`: `<ns>/<policy> route=<id>` or
 * `… backends=<ids>`, from config) its in-flight count, limit, waiting requests and the age of the
 * oldest, decisions by class and result, the wait of admitted requests; async jobs by outcome and
 * the jobs not yet finished; per dead-letter stream its depth and the age of its oldest entry.
 * Gauges are read when scraped (dead-letter and pending-job counts with one Redis read each).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { QueueRuntime, JobOutcome } from '../policy/queue/index.js';
import type { GateObserver } from '../policy/queue/index.js';
import type { Clock } from '../clock.js';
import { cellCounter, cellHistogram } from './cells.js';

export interface QueueMetrics {
  /** A gate's observer (wait histogram, decisions by class). */
  observe(label: string, classNames: readonly string[]): GateObserver;
  job(label: string, outcome: JobOutcome): void;
  deadLettered(namespace: string, stream: string, ok: boolean): void;
}

export function registerQueueMetrics(registry: Registry, runtime: () => QueueRuntime | undefined, clock: Clock): QueueMetrics {
  const gaugeOf = (
    name: string,
    help: string,
    read: (g: ReturnType<QueueRuntime['gates']> extends ReadonlyMap<string, infer G> ? G : never) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['queue'],
      registers: [registry],
      collect() {
        this.reset();
        const r = runtime();
        if (r) for (const [label, gate] of r.gates()) this.set({ queue: label }, read(gate));
      },
    });
  gaugeOf('jarvis_gateway_queue_in_flight', 'Requests and jobs holding an in-flight slot, by queue.', (g) => g.inFlight);
  gaugeOf(
    'jarvis_gateway_queue_limit',
    'The in-flight limit in force (maxInFlight, or the one adaptive concurrency found), by queue.',
    (g) => g.limit,
  );
  gaugeOf('jarvis_gateway_queue_depth', 'Requests and jobs waiting for a slot, by queue.', (g) => g.waiting);
  gaugeOf(
    'jarvis_gateway_queue_oldest_wait_seconds',
    'How long the oldest waiting request has waited, by queue (0 when none waits).',
    (g) => g.oldestWaitMs() / 1000,
  );

  const decisions = cellCounter({
    name: 'jarvis_gateway_queue_decisions_total',
    help: 'Queue decisions by queue, priority class and result: admitted (at once or after waiting), rejected (queue full), shed (for a higher class, hopeless after the adaptive limit shrank, or of a class a DegradationPolicy trigger sheds), expired (deadline passed while waiting).',
    labelNames: ['queue', 'class', 'result'],
    registry,
  });
  const wait = cellHistogram({
    name: 'jarvis_gateway_queue_wait_seconds',
    help: 'Time admitted requests waited for a slot, by queue.',
    labelNames: ['queue'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registry,
  });
  const jobs = cellCounter({
    name: 'jarvis_gateway_jobs_total',
    help: 'Async jobs by queue and outcome: submitted, done, retried, deferred (its priority class shed by a DegradationPolicy trigger: held back, no attempt), dead_lettered, failed (no DLQ), cancelled, duplicate (an attempt finished a job that was not running any more, and was refused).',
    labelNames: ['queue', 'outcome'],
    registry,
  });
  const dlqWrites = new Counter({
    name: 'jarvis_gateway_dlq_writes_total',
    help: 'Synchronous requests written to a dead-letter stream, by namespace, stream and result (ok, error).',
    labelNames: ['namespace', 'stream', 'result'],
    registers: [registry],
  });
  new Gauge({
    name: 'jarvis_gateway_jobs_pending',
    help: 'Async jobs of a route not yet finished (in its stream or waiting for a retry), by queue.',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      const r = runtime();
      if (!r?.jobs) return;
      for (const route of r.jobRoutes().values()) {
        const n = await r.jobs.pending(route.keys).catch(() => undefined);
        if (n !== undefined) this.set({ queue: route.label }, n);
      }
    },
  });
  const dlqGauge = (name: string, help: string, read: (s: { depth: number; oldestAgeMs: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['namespace', 'stream'],
      registers: [registry],
      async collect() {
        this.reset();
        const r = runtime();
        if (!r?.dlq) return;
        const now = clock.now();
        for (const d of r.dlqs().values()) {
          const s = await r.dlq.stats(d, now).catch(() => undefined);
          if (s) this.set({ namespace: d.namespace, stream: d.stream }, read(s));
        }
      },
    });
  dlqGauge('jarvis_gateway_dlq_depth', 'Entries in a dead-letter stream, by namespace and stream.', (s) => s.depth);
  dlqGauge(
    'jarvis_gateway_dlq_oldest_age_seconds',
    'Age of the oldest entry of a dead-letter stream, by namespace and stream (0 when empty).',
    (s) => s.oldestAgeMs / 1000,
  );

  return {
    observe(label, classNames) {
      const cls = (i: number) => classNames[i] ?? '';
      const waited = wait.cell(label);
      return {
        admitted(t, waitMs) {
          decisions.cell(label, cls(t.cls), 'admitted').inc();
          waited.observe(waitMs / 1000);
        },
        refused(t, reason) {
          decisions.cell(label, cls(t.cls), reason === 'full' ? 'rejected' : reason).inc();
        },
      };
    },
    job(label, outcome) {
      jobs.cell(label, outcome).inc();
    },
    deadLettered(namespace, stream, ok) {
      dlqWrites.inc({ namespace, stream, result: ok ? 'ok' : 'error' });
    },
  };
}
