/**
 * The queue's state that outlives one config, owned by main.ts: the gates (in-flight counts,
 * waiting requests, adaptive limits), the job workers and the dead-letter streams in use.
 *
 * A config is compiled with a `QueueBuild` (begin()): a gate whose settings did not change is
 * adopted as it is — a reload of an unchanged policy keeps its waiting requests, its in-flight
 * count and its learned limit — and a changed or new one is made beside the running ones. Nothing
 * is put in force until commit(); abort() drops what the build made. Requests already holding a
 * slot of a replaced gate release it there.
 */
import type { QueueIR, RouteIR } from '@jarvis/api';
import type { Redis } from 'ioredis';
import type { Clock, Timers } from '../../clock.js';
import { type QueueClassifier } from './classify.js';
import { DlqStore, type DlqSettings } from './dlq/store.js';
import { Gate, type GateObserver } from './gate.js';
import { JobStore } from './jobs/store.js';
import { JobWorker, type JobRouteSpec, type JobWorkerDeps } from './jobs/worker.js';
import { dlqKey, routeJobKeys, type RouteJobKeys } from './keys.js';

export interface QueueRuntimeDeps {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly random: () => number;
  /** Redis for jobs and dead letters; without it, async jobs and the DLQ are unavailable. */
  readonly redis: Redis | undefined;
  /** A new connection for a worker's blocking reads. */
  readonly blockingRedis?: () => Redis;
  /** Lower-case headers the identity settings read credentials from: never stored. */
  readonly credentialHeaders: ReadonlySet<string>;
  /** This gateway's name in consumer groups. */
  readonly consumer: string;
  /** A job entry idle this long belongs to a crashed worker and is taken over. */
  readonly reclaimIdleMs: number;
  readonly log: { warn(msg: string, fields?: Record<string, unknown>): void; info(msg: string, fields?: Record<string, unknown>): void };
  /** Gates report here (metrics). */
  readonly observe?: (label: string, classNames: readonly string[]) => GateObserver;
  /** Job outcomes (metrics). */
  readonly onJob?: (label: string, result: JobOutcome) => void;
  /** A synchronous request was written to a DLQ (ok) or could not be. */
  readonly onDeadLetter?: (dlq: DlqSettings, ok: boolean) => void;
}

export type JobOutcome = 'submitted' | 'done' | 'retried' | 'deferred' | 'dead_lettered' | 'failed' | 'cancelled' | 'duplicate';

/** The name of a gate in metrics and logs: `<ns>/<policy>` plus the route, or plus the backends. */
export function gateLabel(route: RouteIR, ir: QueueIR): string {
  return ir.concurrencyScope === 'Backend'
    ? `${ir.counter} backends=${[...new Set(route.backends.map((b) => b.backend))].sort().join(',')}`
    : `${ir.counter} route=${route.id}`;
}

/** What makes two gates the same: everything the scheduler and the limit depend on. */
function gateSettings(ir: QueueIR): string {
  return JSON.stringify([
    ir.maxInFlight,
    ir.adaptive ?? null,
    ir.maxQueued,
    ir.priorityClasses.map((c) => [c.name, c.priority, c.sharePercent]),
    ir.fairness ? [ir.fairness.quantum, ir.fairness.maxFlows, ir.fairness.weights] : null,
  ]);
}

interface GateEntry {
  readonly gate: Gate;
  readonly settings: string;
}

/** A dead-letter stream in use, and the routes that write to it. */
export interface DlqInUse extends DlqSettings {
  readonly routes: readonly string[];
  readonly policies: readonly string[];
}

/** A route that runs async jobs, as the DLQ replay and the job URL need it. */
export interface JobRouteInfo {
  readonly routeId: string;
  readonly policy: string;
  readonly namespace: string;
  readonly keys: RouteJobKeys;
  readonly ir: QueueIR;
  readonly classifier: QueueClassifier;
  readonly label: string;
}

export class QueueRuntime {
  #gates = new Map<string, GateEntry>();
  #dlqs = new Map<string, DlqInUse>();
  #jobRoutes = new Map<string, JobRouteInfo>();
  readonly #workers = new Map<string, JobWorker>();
  readonly jobs: JobStore | undefined;
  readonly dlq: DlqStore | undefined;

  constructor(readonly deps: QueueRuntimeDeps) {
    this.jobs = deps.redis ? new JobStore(deps.redis) : undefined;
    this.dlq = deps.redis ? new DlqStore(deps.redis) : undefined;
  }

  /** Starts compiling a config. */
  begin(): QueueBuild {
    return new QueueBuild(this);
  }

  /** The gates in force, by label. */
  gates(): ReadonlyMap<string, Gate> {
    return new Map([...this.#gates].map(([k, e]) => [k, e.gate]));
  }

  /** The dead-letter streams in force, by `<namespace>/<stream>`. */
  dlqs(): ReadonlyMap<string, DlqInUse> {
    return this.#dlqs;
  }

  /** The routes that run jobs, by route id. */
  jobRoutes(): ReadonlyMap<string, JobRouteInfo> {
    return this.#jobRoutes;
  }

  /** A gate in force with these settings, to adopt. */
  gateFor(label: string, settings: string): Gate | undefined {
    const e = this.#gates.get(label);
    return e && e.settings === settings ? e.gate : undefined;
  }

  /** @internal QueueBuild.commit */
  install(
    gates: Map<string, GateEntry>,
    dlqs: Map<string, DlqInUse>,
    routes: Map<string, JobRouteInfo>,
    specs: Map<string, JobRouteSpec>,
  ): void {
    this.#gates = gates;
    this.#dlqs = dlqs;
    this.#jobRoutes = routes;
    const redis = this.deps.redis;
    for (const [stream, worker] of this.#workers) {
      const spec = specs.get(stream);
      if (spec) worker.update(spec);
      else {
        void worker.stop();
        this.#workers.delete(stream);
      }
    }
    if (!redis || !this.jobs) {
      if (specs.size > 0)
        this.deps.log.warn('routes ask for async jobs but the gateway has no Redis (--redis): submissions get 503', { routes: specs.size });
      return;
    }
    for (const [stream, spec] of specs) {
      if (this.#workers.has(stream)) continue;
      const workerDeps: JobWorkerDeps = {
        store: this.jobs,
        redis,
        blocking: this.deps.blockingRedis ?? (() => redis.duplicate()),
        clock: this.deps.clock,
        timers: this.deps.timers,
        random: this.deps.random,
        consumer: this.deps.consumer,
        reclaimIdleMs: this.deps.reclaimIdleMs,
        log: this.deps.log,
        ...(this.deps.onJob ? { onJob: this.deps.onJob } : {}),
      };
      const worker = new JobWorker(spec, workerDeps);
      this.#workers.set(stream, worker);
      worker.start();
    }
  }

  /**
   * Stops every worker (shutdown): no new jobs are read; running attempts get up to `graceMs` to
   * finish. One still running then stays pending in its stream and another gateway takes it over.
   */
  async close(graceMs = Infinity): Promise<void> {
    const stopped = Promise.all([...this.#workers.values()].map((w) => w.stop()));
    this.#workers.clear();
    if (!Number.isFinite(graceMs)) return void (await stopped);
    let timer: { cancel(): void } | undefined;
    await Promise.race([stopped, new Promise<void>((resolve) => (timer = this.deps.timers.after(graceMs, resolve)))]);
    timer?.cancel();
  }
}

export class QueueBuild {
  readonly #gates = new Map<string, GateEntry>();
  readonly #dlqs = new Map<string, { settings: DlqSettings; routes: string[]; policies: Set<string> }>();
  readonly #routes = new Map<string, JobRouteInfo>();
  readonly #specs = new Map<string, JobRouteSpec>();
  #settled = false;

  constructor(private readonly runtime: QueueRuntime) {}

  get deps(): QueueRuntimeDeps {
    return this.runtime.deps;
  }

  get jobs(): JobStore | undefined {
    return this.runtime.jobs;
  }

  get dlqStore(): DlqStore | undefined {
    return this.runtime.dlq;
  }

  /** The gate of a route's queue: the one in force when its settings are unchanged, else a new one. */
  gate(route: RouteIR, ir: QueueIR): { gate: Gate; label: string } {
    const label = gateLabel(route, ir);
    const settings = gateSettings(ir);
    const mine = this.#gates.get(label);
    if (mine && mine.settings === settings) return { gate: mine.gate, label };
    const d = this.runtime.deps;
    const gate =
      this.runtime.gateFor(label, settings) ??
      new Gate(
        {
          classes:
            ir.priorityClasses.length === 0 ? [{ sharePercent: 0 }] : ir.priorityClasses.map((c) => ({ sharePercent: c.sharePercent })),
          quantum: ir.fairness?.quantum ?? 1,
          weights: new Map((ir.fairness?.weights ?? []).map((w) => [w.value, w.weight])),
          maxFlows: ir.fairness?.maxFlows ?? 1,
          maxInFlight: ir.maxInFlight,
          maxQueued: ir.maxQueued,
          ...(ir.adaptive
            ? {
                adaptive: {
                  minLimit: ir.adaptive.minLimit,
                  buffer: ir.adaptive.bufferPercent / 100,
                  sampleIntervalMs: ir.adaptive.sampleIntervalMs,
                  minRttIntervalMs: ir.adaptive.minRttIntervalMs,
                  minRttSamples: ir.adaptive.minRttSamples,
                },
              }
            : {}),
        },
        d.clock,
        d.timers,
        d.random,
      );
    if (d.observe) gate.observer = d.observe(label, ir.priorityClasses.length === 0 ? [''] : ir.priorityClasses.map((c) => c.name));
    this.#gates.set(label, { gate, settings });
    return { gate, label };
  }

  /** The dead-letter stream of a policy (shared by the routes and policies of a namespace that name it). */
  dlq(route: RouteIR, ir: QueueIR): DlqSettings | undefined {
    const dl = ir.deadLetter;
    if (!dl) return undefined;
    const namespace = ir.source.namespace;
    const id = `${namespace}/${dl.stream}`;
    let e = this.#dlqs.get(id);
    if (!e) {
      e = {
        settings: {
          namespace,
          stream: dl.stream,
          key: dlqKey(namespace, dl.stream),
          maxLength: dl.maxLength,
          retentionMs: dl.retentionMs,
          maxBodyBytes: dl.maxBodyBytes,
        },
        routes: [],
        policies: new Set(),
      };
      this.#dlqs.set(id, e);
    }
    e.routes.push(route.id);
    e.policies.add(`${ir.source.namespace}/${ir.source.name}`);
    return e.settings;
  }

  /** A route whose jobs a worker runs once the config is in force. */
  jobRoute(spec: JobRouteSpec, classifier: QueueClassifier): void {
    this.#specs.set(spec.keys.stream, spec);
    this.#routes.set(spec.routeId, {
      routeId: spec.routeId,
      policy: spec.policy,
      namespace: spec.namespace,
      keys: spec.keys,
      ir: spec.ir,
      classifier,
      label: spec.label,
    });
  }

  /** The job stream keys of a route's policy. */
  static keysFor(route: RouteIR, ir: QueueIR): RouteJobKeys {
    return routeJobKeys(ir.source.namespace, ir.source.name, route.id);
  }

  commit(): void {
    if (this.#settled) return;
    this.#settled = true;
    const dlqs = new Map<string, DlqInUse>();
    for (const [id, e] of this.#dlqs) dlqs.set(id, { ...e.settings, routes: e.routes, policies: [...e.policies].sort() });
    this.runtime.install(this.#gates, dlqs, this.#routes, this.#specs);
  }

  abort(): void {
    this.#settled = true;
  }
}
