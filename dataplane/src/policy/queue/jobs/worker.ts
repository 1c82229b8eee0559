/**
 * The worker loop of one route's jobs in one gateway. It reads new entries of the route's stream
 * through the consumer group (XREADGROUP, blocking on a connection of its own), holds at most as
 * many jobs as the gate's limit, and puts each into the same gate as the route's synchronous
 * requests — same cap, same classes, same fairness (a job ticket is never shed or expired; its
 * attempt has its own timeout). Admitted, a job is started (one more attempt), sent to a backend
 * of the route, and then completed, scheduled for a retry (exponential backoff with jitter, in a
 * sorted set that any worker moves back into the stream when due) or failed into the DLQ — each
 * in one script with the acknowledgement of its entry. A job whose priority class a
 * DegradationPolicy trigger sheds is not started: it goes back to that sorted set, due when the
 * trigger may deactivate at the earliest, its attempts unchanged.
 *
 * Every reclaimIdle/3 it moves due retries, resets the idle time of the entries it holds (XCLAIM
 * JUSTID, so that nobody takes them over) and takes over entries idle for reclaimIdle (XAUTOCLAIM):
 * the jobs of a worker that crashed. A job is run at least once and finished at most once.
 */
import type { QueueIR } from '@jarvis/api';
import type { Redis } from 'ioredis';
import type { Clock, TimerHandle, Timers } from '../../../clock.js';
import { errors } from 'undici';
import { REJECTED } from '../../breaker/breaker.js';
import { FEATURES_HEADER } from '../../../proxy/headers.js';
import type { Backend, Endpoint } from '../../../proxy/upstreams.js';
import { minIdFor, type DlqSettings } from '../dlq/store.js';
import type { Gate } from '../gate.js';
import { JOB_GROUP, jobKey, type RouteJobKeys } from '../keys.js';
import type { JobOutcome } from '../runtime.js';
import { Ticket, TicketState, type RejectReason, type TicketOwner } from '../ticket.js';
import { JobStore, type JobResult, type StartedJob, type StreamJob } from './store.js';

export interface JobRouteSpec {
  readonly routeId: string;
  /** `<namespace>/<name>` of the policy. */
  readonly policy: string;
  readonly namespace: string;
  /** The gate's label (metrics). */
  readonly label: string;
  readonly keys: RouteJobKeys;
  /** A queue with `async`. */
  readonly ir: QueueIR;
  readonly gate: Gate;
  /** Class index of a class name (unknown names: the default class). */
  readonly classIndex: (name: string) => number;
  readonly pickBackend: () => Backend | undefined;
  readonly dlq: DlqSettings | undefined;
  /**
   * Request headers the gateway tells the upstream on every attempt, read when the attempt starts
   * (the route's feature toggles, DegradationPolicy); undefined: none.
   */
  readonly upstreamHeaders?: () => Readonly<Record<string, string>>;
  /**
   * Whether a DegradationPolicy trigger sheds class `cls` on the route now, and for how long at
   * least (ms): its jobs are held back that long, no attempt made; undefined: not shed.
   */
  readonly shedFor?: (cls: number) => number | undefined;
}

export interface JobWorkerDeps {
  readonly store: JobStore;
  readonly redis: Redis;
  readonly blocking: () => Redis;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly random: () => number;
  readonly consumer: string;
  readonly reclaimIdleMs: number;
  readonly log: { warn(msg: string, fields?: Record<string, unknown>): void; info(msg: string, fields?: Record<string, unknown>): void };
  readonly onJob?: (label: string, result: JobOutcome) => void;
}

/** Longest a blocking read waits, so that due retries and maintenance are not late by more. */
const MAX_BLOCK_MS = 1000;

class JobTicket extends Ticket {
  constructor(
    cls: number,
    flow: string,
    owner: TicketOwner,
    readonly job: StreamJob,
    readonly spec: JobRouteSpec,
  ) {
    super(cls, flow, Infinity, owner, true);
  }
}

/** What one attempt got from the upstream. */
type Attempt =
  | { readonly ok: true; readonly result: JobResult; readonly rttMs: number }
  | {
      readonly ok: false;
      readonly status: number;
      readonly error: string;
      readonly rttMs: number | undefined;
      /** The next attempt waits at least this long (the backend's breaker is open). */
      readonly notBeforeMs?: number;
    };

/** What an attempt's HTTP exchange came to: the upstream's status (0: none came) and, without one, how it failed. */
interface Sent {
  readonly attempt: Attempt;
  readonly status: number;
  readonly failure: CallFailure;
  /** Clock reading when the head came (0: none came). */
  readonly headAt: number;
}

/** How an attempt that got no complete answer ended, as the backend's breaker and outlier detector count it. */
type CallFailure = 'timeout' | 'connect' | 'other';

function callFailure(err: unknown, timedOut: boolean): CallFailure {
  if (
    timedOut ||
    err instanceof errors.ConnectTimeoutError ||
    err instanceof errors.HeadersTimeoutError ||
    err instanceof errors.BodyTimeoutError
  )
    return 'timeout';
  if (err instanceof errors.SocketError) return 'connect'; // reset by the upstream
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ? 'connect' : 'other';
}

function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export class JobWorker implements TicketOwner {
  #spec: JobRouteSpec;
  #stopped = false;
  #blocking: Redis | undefined;
  /** CLIENT ID of the blocking connection, and when its current read gives up (0: not reading). */
  #blockingId: number | undefined;
  #blockedUntil = 0;
  /** Entries this worker holds (waiting for a slot or running), by entry id. */
  readonly #held = new Map<string, JobTicket>();
  #wake: (() => void) | undefined;
  #nextMaintenance = 0;
  #nextDue: number | undefined;
  #loop: Promise<void> | undefined;
  readonly #running = new Set<Promise<void>>();

  constructor(
    spec: JobRouteSpec,
    private readonly deps: JobWorkerDeps,
  ) {
    this.#spec = spec;
  }

  get spec(): JobRouteSpec {
    return this.#spec;
  }

  /** Jobs held now. */
  get held(): number {
    return this.#held.size;
  }

  /** A new config: new gate, backends or settings for the jobs taken from now on. */
  update(spec: JobRouteSpec): void {
    this.#spec = spec;
    this.#nudge();
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Reads no more; jobs waiting for a slot are let go (another worker takes them over); running ones finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#nudge();
    this.#blocking?.disconnect();
    for (const t of [...this.#held.values()]) if (t.state === TicketState.Waiting && t.spec.gate.cancel(t)) this.#held.delete(t.job.entry);
    await this.#loop;
    await Promise.all([...this.#running]);
  }

  #nudge(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined = undefined;
      const done = (): void => {
        timer?.cancel();
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      timer = this.deps.timers.after(ms, done);
    });
  }

  #whenReady(): Promise<void> {
    return new Promise((resolve) => {
      const redis = this.deps.redis;
      const done = (): void => {
        redis.off('ready', done);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      redis.once('ready', done);
    });
  }

  /** How many jobs this worker may hold: the gate's current limit. */
  #capacity(): number {
    return Math.max(1, this.#spec.gate.limit);
  }

  async #run(): Promise<void> {
    const { store, log } = this.deps;
    let failures = 0;
    while (!this.#stopped) {
      if (this.deps.redis.status !== 'ready') {
        // Not connected (yet, or any more): wait for it (or for stop) without counting a failure.
        await this.#whenReady();
        continue;
      }
      try {
        if (failures > 0 || this.#nextMaintenance === 0) await store.ensureGroup(this.#spec.keys);
        const now = this.deps.clock.now();
        if (now >= this.#nextMaintenance) {
          this.#nextMaintenance = now + Math.max(100, Math.floor(this.deps.reclaimIdleMs / 3));
          await this.#maintain(now);
        } else if (this.#nextDue !== undefined && this.#nextDue <= now) await this.#promote(now);
        const free = this.#capacity() - this.#held.size;
        if (free <= 0) {
          await this.#sleep(Math.max(10, this.#nextMaintenance - this.deps.clock.now()));
          continue;
        }
        const until = Math.min(this.#nextMaintenance, this.#nextDue ?? Infinity);
        const block = Math.max(10, Math.min(MAX_BLOCK_MS, until - this.deps.clock.now()));
        if (!this.#blocking) {
          this.#blocking = this.deps.blocking();
          this.#blockingId = Number(await this.#blocking.client('ID'));
        }
        this.#blockedUntil = this.deps.clock.now() + block;
        const jobs = await JobStore.read(this.#blocking, this.#spec.keys, this.deps.consumer, free, block).finally(() => {
          this.#blockedUntil = 0;
        });
        failures = 0;
        for (const j of jobs) await this.#take(j);
      } catch (err) {
        if (this.#stopped) break;
        failures++;
        log.warn('job worker: Redis failed', { route: this.#spec.routeId, error: err instanceof Error ? err.message : String(err) });
        await this.#sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
    this.#blocking?.disconnect();
  }

  async #maintain(now: number): Promise<void> {
    const { store } = this.deps;
    const keys = this.#spec.keys;
    await this.#promote(now);
    await store.heartbeat(keys, this.deps.consumer, [...this.#held.keys()]);
    const free = this.#capacity() - this.#held.size;
    if (free <= 0) return;
    const taken = await store.reclaim(keys, this.deps.consumer, this.deps.reclaimIdleMs, Math.min(free, 100));
    if (taken.length > 0) this.deps.log.info('took over jobs of a stopped worker', { route: this.#spec.routeId, jobs: taken.length });
    for (const j of taken) await this.#take(j);
  }

  async #promote(now: number): Promise<void> {
    const r = await this.deps.store.promote(this.#spec.keys, now);
    this.#nextDue = r.nextDue;
  }

  /** A job entry is ours now: into the gate, unless it is finished already. */
  async #take(job: StreamJob): Promise<void> {
    if (this.#held.has(job.entry)) return;
    const spec = this.#spec;
    let { cls, flow } = job;
    if (cls === undefined || flow === undefined) {
      const [state, c, f] = await this.deps.redis.hmget(jobKey(job.id), 'state', 'cls', 'flow');
      if (state !== 'pending' && state !== 'running') {
        // Cancelled, finished, or expired: nothing to run.
        await this.deps.redis.xack(spec.keys.stream, JOB_GROUP, job.entry);
        await this.deps.redis.xdel(spec.keys.stream, job.entry);
        return;
      }
      cls = c ?? '';
      flow = f ?? '';
    }
    // A job finished or cancelled meanwhile is dropped when it is started (START sees its state).
    const ticket = new JobTicket(spec.classIndex(cls ?? ''), flow ?? '', this, job, spec);
    this.#held.set(job.entry, ticket);
    if (spec.gate.acquire(ticket) === 'admitted') this.admitted(ticket);
  }

  admitted(t: Ticket): void {
    const ticket = t as JobTicket;
    const p = this.#attempt(ticket).finally(() => {
      this.#running.delete(p);
      this.#held.delete(ticket.job.entry);
      this.#nudge();
    });
    this.#running.add(p);
  }

  rejected(t: Ticket, _reason: RejectReason): void {
    // Job tickets are durable: never shed or expired. Should it happen, the entry stays pending
    // and is taken over once idle.
    this.#held.delete((t as JobTicket).job.entry);
  }

  async #attempt(t: JobTicket): Promise<void> {
    const { store, clock, log } = this.deps;
    const spec = t.spec;
    const a = spec.ir.async;
    let rtt: number | undefined;
    try {
      if (!a) throw new Error(`route ${spec.routeId} has no async settings`);
      const holdMs = spec.shedFor?.(t.cls);
      if (holdMs !== undefined) {
        // The deferred path defers: a job of a shed class waits for the trigger, it does not add load.
        const now = clock.now();
        const ok = await store.defer(spec.keys, t.job, now, now + holdMs);
        this.deps.onJob?.(spec.label, ok ? 'deferred' : 'duplicate');
        if (ok) await this.#dueAt(now + holdMs);
        return;
      }
      const started = await store.start(t.job.id, clock.now());
      if ('state' in started) {
        await this.deps.redis.xack(spec.keys.stream, JOB_GROUP, t.job.entry);
        await this.deps.redis.xdel(spec.keys.stream, t.job.entry);
        return;
      }
      let outcome: Attempt;
      if (started.attempts > Math.max(started.maxAttempts, 1))
        outcome = { ok: false, status: 0, error: 'attempts used up (a gateway stopped during an attempt)', rttMs: undefined };
      else outcome = await this.#call(spec, t.job.id, started, a.attemptTimeoutMs, a.maxResultBytes);
      rtt = outcome.rttMs;
      const now = clock.now();
      if (outcome.ok) {
        const done = await store.complete(spec.keys, t.job, now, outcome.result, a.resultTtlMs);
        this.deps.onJob?.(spec.label, done ? 'done' : 'duplicate');
      } else if (started.attempts < started.maxAttempts) {
        const base = Math.min(a.backoff.maxMs, a.backoff.initialMs * 2 ** (started.attempts - 1));
        const delay = Math.max(base / 2 + (this.deps.random() * base) / 2, outcome.ok ? 0 : (outcome.notBeforeMs ?? 0));
        const ok = await store.retry(spec.keys, t.job, now, now + delay, outcome.error, outcome.status);
        this.deps.onJob?.(spec.label, ok ? 'retried' : 'duplicate');
        if (ok) await this.#dueAt(now + delay);
      } else {
        const dlq = spec.dlq;
        const entry = await store.fail(
          spec.keys,
          t.job,
          dlq
            ? { key: dlq.key, maxLength: dlq.maxLength, minId: minIdFor(now, dlq.retentionMs), maxBodyBytes: dlq.maxBodyBytes }
            : undefined,
          now,
          `${outcome.error} after ${started.attempts} attempt${started.attempts === 1 ? '' : 's'}`,
          outcome.status,
          a.resultTtlMs,
        );
        this.deps.onJob?.(spec.label, entry === undefined ? 'duplicate' : entry === '-' ? 'failed' : 'dead_lettered');
      }
    } catch (err) {
      // Redis failed mid-way: the entry stays pending and is run again once taken over.
      log.warn('job attempt could not be recorded', {
        route: spec.routeId,
        job: t.job.id,
        error: err instanceof Error ? err.message : String(err),
      });
    } finally {
      spec.gate.release(t, rtt);
    }
  }

  /** A job of this route is due again at `due`: the loop moves it back into the stream then. */
  async #dueAt(due: number): Promise<void> {
    if (this.#nextDue !== undefined && due >= this.#nextDue) return;
    this.#nextDue = due;
    // The read in progress would wait past the due time: end it now (CLIENT UNBLOCK).
    if (this.#blockedUntil > due && this.#blockingId !== undefined)
      await this.deps.redis.client('UNBLOCK', this.#blockingId).catch(() => undefined);
  }

  /**
   * One attempt against a backend of the route, under the backend's guard as a synchronous request
   * is: an open circuit breaker refuses it without a call (the next attempt waits until the breaker
   * lets a probe through), its outcome counts in the breaker and for outlier detection.
   */
  async #call(spec: JobRouteSpec, id: string, job: StartedJob, timeoutMs: number, maxResultBytes: number): Promise<Attempt> {
    const backend = spec.pickBackend();
    if (!backend) return { ok: false, status: 503, error: 'no backend', rttMs: undefined };
    const { guard } = backend;
    const breaker = guard.breaker;
    const permit = breaker ? breaker.acquire() : REJECTED;
    if (breaker && permit === REJECTED) {
      guard.events.breakerRejected(backend.id);
      return {
        ok: false,
        status: 503,
        error: `the circuit breaker of backend ${backend.id} is open`,
        rttMs: undefined,
        notBeforeMs: breaker.retryAfterMs(),
      };
    }
    const endpoint = backend.pick();
    if (!endpoint) {
      breaker?.release(permit);
      return { ok: false, status: 503, error: `backend ${backend.id} has no ready endpoint`, rttMs: undefined };
    }
    const clock = this.deps.clock;
    const startedAt = clock.now();
    const sent = await this.#send(spec, endpoint, id, job, timeoutMs, maxResultBytes);
    const { status, failure } = sent;
    // Slow: the answer's head (or, without one, the end) came later than the breaker's threshold.
    const slow = (): boolean => {
      const slowCall = breaker?.ir.slowCall;
      return slowCall !== undefined && (sent.headAt > 0 ? sent.headAt : clock.now()) - startedAt > slowCall.thresholdMs;
    };
    if (status > 0) {
      guard.observeStatus(endpoint.origin, status);
      if (breaker) {
        if (breaker.ir.failureStatusCodes.includes(status)) breaker.record(permit, true, slow());
        else if (status >= 400 && status < 500) breaker.release(permit);
        else breaker.record(permit, false, slow());
      }
    } else {
      if (failure !== 'other') guard.observeGatewayError(endpoint.origin);
      const counts =
        breaker !== undefined &&
        ((failure === 'timeout' && breaker.ir.countTimeouts) || (failure === 'connect' && breaker.ir.countConnectErrors));
      if (counts) breaker.record(permit, true, slow());
      else breaker?.release(permit);
    }
    return sent.attempt;
  }

  /** The HTTP exchange of an attempt: its status (0: no answer) and how it failed. */
  async #send(
    spec: JobRouteSpec,
    endpoint: Endpoint,
    id: string,
    job: StartedJob,
    timeoutMs: number,
    maxResultBytes: number,
  ): Promise<Sent> {
    const clock = this.deps.clock;
    const headers: Record<string, string> = {};
    // The features are the gateway's to tell (the route's toggles now), never a stored client's.
    for (const [k, v] of Object.entries(job.headers)) if (k !== FEATURES_HEADER) headers[k] = v;
    const told = spec.upstreamHeaders?.();
    if (told) Object.assign(headers, told);
    if (job.tenant) headers['x-tenant-id'] = job.tenant;
    if (job.user) headers['x-user-id'] = job.user;
    if (job.clientIp) headers['x-forwarded-for'] = job.clientIp;
    headers['idempotency-key'] = job.idem || id;
    headers['x-jarvis-job-id'] = id;
    headers['x-jarvis-job-attempt'] = String(job.attempts);
    headers['x-jarvis-deadline'] = String(clock.now() + timeoutMs);
    if (job.body.length > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS'].includes(job.method))
      headers['content-length'] = String(job.body.length);
    const started = clock.now();
    let headAt = 0;
    const abort = new AbortController();
    const timer = this.deps.timers.after(timeoutMs, () => abort.abort(new Error(`attempt timed out after ${timeoutMs} ms`)));
    try {
      const res = await endpoint.pool.request({
        method: job.method as 'GET',
        path: job.path,
        headers,
        body: job.body.length > 0 ? job.body : null,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: abort.signal,
      });
      headAt = clock.now();
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (truncated) continue;
        if (size + chunk.length > maxResultBytes) {
          chunks.push(chunk.subarray(0, maxResultBytes - size));
          size = maxResultBytes;
          truncated = true;
        } else {
          chunks.push(chunk);
          size += chunk.length;
        }
      }
      const rttMs = clock.now() - started;
      const status = res.statusCode;
      if (retryable(status))
        return { status, failure: 'other', headAt, attempt: { ok: false, status, error: `upstream answered ${status}`, rttMs } };
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) {
        if (v === undefined || k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding' || k === 'set-cookie') continue;
        out[k] = Array.isArray(v) ? v.join(', ') : v;
      }
      return {
        status,
        failure: 'other',
        headAt,
        attempt: { ok: true, result: { status, headers: out, body: Buffer.concat(chunks, size), truncated }, rttMs },
      };
    } catch (err) {
      const timedOut = abort.signal.aborted;
      const why = timedOut ? `attempt timed out after ${timeoutMs} ms` : err instanceof Error ? err.message : String(err);
      return {
        status: 0,
        headAt: 0,
        failure: callFailure(err, timedOut),
        attempt: { ok: false, status: 0, error: why, rttMs: timedOut ? clock.now() - started : undefined },
      };
    } finally {
      timer.cancel();
    }
  }
}
