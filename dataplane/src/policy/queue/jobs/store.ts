/**
 * Jobs in Redis: one hash per job, one stream per route that workers consume through the consumer
 * group `workers` (XREADGROUP, XACK), a sorted set of jobs waiting for their retry, and the
 * scripts (../scripts.ts) that move a job between them atomically. A crashed worker's entries stay
 * pending in the group and are taken over by another worker with XAUTOCLAIM once idle; a live
 * worker keeps its entries from looking idle with XCLAIM … JUSTID (a heartbeat).
 */
import type { Redis } from 'ioredis';
import { JOB_GROUP, jobKey, type RouteJobKeys } from '../keys.js';
import type { StoredRequest } from '../redact.js';
import { CANCEL, COMPLETE, DEAD_LETTER, DEFER, PROMOTE, RETRY, START, START_FIELDS, SUBMIT } from '../scripts.js';

/** How long an unfinished job's hash is kept (refreshed at every step): a job not run within it is gone. */
export const UNFINISHED_TTL_MS = 7 * 24 * 3600 * 1000;

export type JobState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

export interface NewJob {
  readonly id: string;
  readonly keys: RouteJobKeys;
  readonly routeId: string;
  /** `<namespace>/<name>` of the QueuePolicy. */
  readonly policy: string;
  /** Priority class name ('' without classes) and flow. */
  readonly cls: string;
  readonly flow: string;
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly clientIp: string;
  readonly request: StoredRequest;
  /** Sent to the upstream as Idempotency-Key on every attempt: the client's key, or the job id. */
  readonly idem: string;
  /** Redis key of the client's idempotency key, when it sent one. */
  readonly idemKey: string | undefined;
  readonly maxAttempts: number;
  readonly resultTtlMs: number;
  readonly maxPending: number;
  readonly now: number;
}

export type SubmitResult = { readonly kind: 'created' | 'existing'; readonly id: string } | { readonly kind: 'full' };

/** A job as START hands it to a worker. */
export interface StartedJob {
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly tenant: string;
  readonly user: string;
  readonly clientIp: string;
  readonly idem: string;
}

export interface JobResult {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly truncated: boolean;
}

/** A job as GET /_jarvis/jobs/<id> shows it. */
export interface JobView {
  readonly id: string;
  readonly state: JobState;
  readonly route: string;
  readonly policy: string;
  readonly tenant: string;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly submittedAt: number;
  readonly updatedAt: number;
  readonly finishedAt: number | undefined;
  readonly error: string | undefined;
  readonly deadLetter: string | undefined;
  readonly replays: number;
  readonly result: JobResult | undefined;
}

/** One entry a worker read from its stream: the job, and its class and flow (undefined in an entry without them). */
export interface StreamJob {
  readonly entry: string;
  readonly id: string;
  readonly cls?: string | undefined;
  readonly flow?: string | undefined;
}

function str(v: Buffer | undefined): string {
  return v === undefined ? '' : v.toString('utf8');
}

function num(v: Buffer | undefined): number {
  const n = Number(str(v));
  return Number.isFinite(n) ? n : 0;
}

function parseHeaders(text: string): Record<string, string> {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
    return out;
  } catch {
    return {};
  }
}

/** Entries of an XREADGROUP / XAUTOCLAIM reply: [[entry id, [field, value, …]], …]. */
function entriesOf(raw: unknown): StreamJob[] {
  const out: StreamJob[] = [];
  if (!Array.isArray(raw)) return out;
  for (const e of raw) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || !Array.isArray(e[1])) continue;
    const fields = e[1] as unknown[];
    const field = (name: string): string | undefined => {
      for (let i = 0; i + 1 < fields.length; i += 2)
        if (fields[i] === name && typeof fields[i + 1] === 'string') return fields[i + 1] as string;
      return undefined;
    };
    out.push({ entry: e[0], id: field('job') ?? '', cls: field('cls'), flow: field('flow') });
  }
  return out;
}

export class JobStore {
  constructor(private readonly redis: Redis) {}

  async submit(job: NewJob): Promise<SubmitResult> {
    const r = job.request;
    const fields: (string | Buffer)[] = [
      'id',
      job.id,
      'state',
      'pending',
      'route',
      job.routeId,
      'policy',
      job.policy,
      'cls',
      job.cls,
      'flow',
      job.flow,
      'tenant',
      job.tenant ?? '',
      'user',
      job.user ?? '',
      'clientIp',
      job.clientIp,
      'method',
      r.method,
      'path',
      r.path,
      'headers',
      JSON.stringify(r.headers),
      'body',
      r.body,
      'idem',
      job.idem,
      'attempts',
      '0',
      'maxAttempts',
      String(job.maxAttempts),
      'submittedAt',
      String(job.now),
      'updatedAt',
      String(job.now),
      'resultTtl',
      String(job.resultTtlMs),
    ];
    const reply = (await SUBMIT.run(
      this.redis,
      [job.keys.stream, job.keys.delayed, jobKey(job.id), job.idemKey ?? jobKey(job.id)],
      [
        job.id,
        job.maxPending,
        UNFINISHED_TTL_MS + job.resultTtlMs,
        UNFINISHED_TTL_MS,
        job.cls,
        job.idemKey ? '1' : '0',
        job.flow,
        ...fields,
      ],
    )) as [number, string];
    if (reply[0] === -1) return { kind: 'full' };
    return { kind: reply[0] === 1 ? 'created' : 'existing', id: reply[1] };
  }

  /** Marks the job running with one more attempt; undefined with its state when it must not run. */
  async start(id: string, now: number): Promise<StartedJob | { readonly state: string }> {
    const reply = (await START.runBuffer(this.redis, [jobKey(id)], [now, UNFINISHED_TTL_MS])) as Buffer[];
    const state = str(reply[0]);
    if (state !== 'running') return { state };
    const f = (name: (typeof START_FIELDS)[number]): Buffer | undefined => reply[2 + START_FIELDS.indexOf(name)];
    return {
      attempts: num(reply[1]),
      maxAttempts: num(f('maxAttempts')),
      method: str(f('method')) || 'GET',
      path: str(f('path')) || '/',
      headers: parseHeaders(str(f('headers'))),
      body: f('body') ?? Buffer.alloc(0),
      tenant: str(f('tenant')),
      user: str(f('user')),
      clientIp: str(f('clientIp')),
      idem: str(f('idem')),
    };
  }

  /** The attempt succeeded: the result is kept for resultTtlMs. False: refused (the job was not running any more). */
  async complete(keys: RouteJobKeys, job: StreamJob, now: number, result: JobResult, resultTtlMs: number): Promise<boolean> {
    const reply = await COMPLETE.run(
      this.redis,
      [jobKey(job.id), keys.stream],
      [
        job.entry,
        now,
        resultTtlMs,
        'status',
        String(result.status),
        'rheaders',
        JSON.stringify(result.headers),
        'rbody',
        result.body,
        'rtruncated',
        result.truncated ? '1' : '0',
      ],
    );
    return reply === 1;
  }

  /** The attempt failed and another follows at `dueAt`. */
  async retry(keys: RouteJobKeys, job: StreamJob, now: number, dueAt: number, error: string, status: number): Promise<boolean> {
    const reply = await RETRY.run(
      this.redis,
      [jobKey(job.id), keys.stream, keys.delayed],
      [job.entry, now, dueAt, job.id, error.slice(0, 512), UNFINISHED_TTL_MS, status > 0 ? String(status) : ''],
    );
    return reply === 1;
  }

  /** The job is not to run now: back to the retry set, due at `dueAt`, its attempts unchanged. False: it finished or was cancelled meanwhile. */
  async defer(keys: RouteJobKeys, job: StreamJob, now: number, dueAt: number): Promise<boolean> {
    const reply = await DEFER.run(
      this.redis,
      [jobKey(job.id), keys.stream, keys.delayed],
      [job.entry, now, dueAt, job.id, UNFINISHED_TTL_MS],
    );
    return reply === 1;
  }

  /**
   * The job failed for good: failed, and into the DLQ when there is one. The DLQ entry id, '-'
   * without a DLQ, or undefined when refused (the job was not running any more).
   */
  async fail(
    keys: RouteJobKeys,
    job: StreamJob,
    dlq: { readonly key: string; readonly maxLength: number; readonly minId: string; readonly maxBodyBytes: number } | undefined,
    now: number,
    reason: string,
    status: number,
    resultTtlMs: number,
  ): Promise<string | undefined> {
    const reply = await DEAD_LETTER.run(
      this.redis,
      [jobKey(job.id), keys.stream, dlq?.key ?? jobKey(job.id)],
      [
        job.entry,
        now,
        reason.slice(0, 512),
        resultTtlMs,
        dlq?.maxLength ?? 1,
        dlq?.minId ?? '0-0',
        dlq?.maxBodyBytes ?? 0,
        job.id,
        status > 0 ? String(status) : '',
        dlq ? '1' : '0',
      ],
    );
    return typeof reply === 'string' && reply !== '' ? reply : undefined;
  }

  /** Due retries back into the stream; the next due time (ms), or undefined when none waits. */
  async promote(keys: RouteJobKeys, now: number, max = 500): Promise<{ moved: number; nextDue: number | undefined }> {
    const prefix = keys.delayed.slice(0, keys.delayed.indexOf('}:') + 2) + 'job:';
    const reply = (await PROMOTE.run(this.redis, [keys.delayed, keys.stream], [now, max, prefix])) as [number, string];
    return { moved: Number(reply[0]), nextDue: reply[1] === '' ? undefined : Number(reply[1]) };
  }

  /** 'ok' when cancelled now, or the state the job was in when it could not be ('done', 'failed', 'cancelled', 'missing'). */
  async cancel(id: string, keys: RouteJobKeys, now: number): Promise<string> {
    return String(await CANCEL.run(this.redis, [jobKey(id), keys.delayed], [now, id]));
  }

  /** The job as its URL shows it; undefined when there is none (never was, or expired). */
  async get(id: string): Promise<JobView | undefined> {
    const h = await this.redis.hgetallBuffer(jobKey(id));
    const state = str(h['state']);
    if (!state) return undefined;
    const finishedAt = num(h['finishedAt']);
    return {
      id,
      state: state as JobState,
      route: str(h['route']),
      policy: str(h['policy']),
      tenant: str(h['tenant']),
      attempts: num(h['attempts']),
      maxAttempts: num(h['maxAttempts']),
      submittedAt: num(h['submittedAt']),
      updatedAt: num(h['updatedAt']),
      finishedAt: finishedAt > 0 ? finishedAt : undefined,
      error: h['error'] ? str(h['error']) : undefined,
      deadLetter: h['dlq'] ? str(h['dlq']) : undefined,
      replays: num(h['replays']),
      result:
        state === 'done'
          ? {
              status: num(h['status']),
              headers: parseHeaders(str(h['rheaders'])),
              body: h['rbody'] ?? Buffer.alloc(0),
              truncated: str(h['rtruncated']) === '1',
            }
          : undefined,
    };
  }

  /** Creates the consumer group (from the start of the stream, so that jobs submitted before any worker are seen). */
  async ensureGroup(keys: RouteJobKeys): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', keys.stream, JOB_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('BUSYGROUP')) throw err;
    }
  }

  /** New entries for `consumer`, waiting up to `blockMs` (on a connection of its own: it blocks). */
  static async read(blocking: Redis, keys: RouteJobKeys, consumer: string, count: number, blockMs: number): Promise<StreamJob[]> {
    const reply = (await blocking.xreadgroup(
      'GROUP',
      JOB_GROUP,
      consumer,
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      keys.stream,
      '>',
    )) as [string, unknown][] | null;
    return reply?.[0] ? entriesOf(reply[0][1]) : [];
  }

  /** Takes over entries idle for at least `minIdleMs` (a crashed worker's); deleted entries are acknowledged. */
  async reclaim(keys: RouteJobKeys, consumer: string, minIdleMs: number, count: number): Promise<StreamJob[]> {
    const reply = (await this.redis.xautoclaim(keys.stream, JOB_GROUP, consumer, minIdleMs, '0-0', 'COUNT', count)) as unknown[];
    const claimed = entriesOf(reply[1]);
    const deleted = Array.isArray(reply[2]) ? (reply[2] as string[]) : [];
    if (deleted.length > 0) await this.redis.xack(keys.stream, JOB_GROUP, ...deleted);
    const orphans = claimed.filter((j) => j.id === '').map((j) => j.entry);
    if (orphans.length > 0) await this.redis.xack(keys.stream, JOB_GROUP, ...orphans);
    return claimed.filter((j) => j.id !== '');
  }

  /** Resets the idle time of entries this worker still holds, so that nobody reclaims them. */
  async heartbeat(keys: RouteJobKeys, consumer: string, entries: readonly string[]): Promise<void> {
    if (entries.length === 0) return;
    await this.redis.xclaim(keys.stream, JOB_GROUP, consumer, 0, ...entries, 'JUSTID');
  }

  /** Jobs of the route not yet finished (stream entries and retries waiting). */
  async pending(keys: RouteJobKeys): Promise<number> {
    const [len, delayed] = await Promise.all([this.redis.xlen(keys.stream), this.redis.zcard(keys.delayed)]);
    return len + delayed;
  }
}
