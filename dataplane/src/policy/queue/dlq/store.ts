/**
 * Dead-letter streams: one Redis Stream per (namespace, stream name), written with XADD MAXLEN ~
 * (approximately maxLength entries) and trimmed by age (XTRIM MINID ~). An entry holds the reason,
 * attempts, timestamps and the redacted, size-capped copy of the request (see ../redact.ts);
 * operators list, show, replay and purge entries through the admin API (./admin.ts).
 */
import type { Redis } from 'ioredis';
import { jobKey, type RouteJobKeys } from '../keys.js';
import type { StoredRequest } from '../redact.js';
import { DLQ_FIELDS, REPLAY, type DlqField } from '../scripts.js';

export interface DlqSettings {
  readonly namespace: string;
  readonly stream: string;
  /** The Redis key (keys.ts dlqKey). */
  readonly key: string;
  readonly maxLength: number;
  readonly retentionMs: number;
  readonly maxBodyBytes: number;
}

/** What a synchronous request that failed for good leaves in the DLQ. */
export interface FailedRequest {
  readonly route: string;
  readonly policy: string;
  readonly reason: string;
  readonly attempts: number;
  readonly status: number;
  readonly firstAt: number;
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly cls: string;
  readonly flow: string;
  readonly request: StoredRequest;
}

export interface DlqEntry {
  readonly id: string;
  readonly kind: 'job' | 'request';
  readonly job: string | undefined;
  readonly route: string;
  readonly policy: string;
  readonly reason: string;
  readonly attempts: number;
  readonly status: number | undefined;
  readonly firstAt: number;
  readonly failedAt: number;
  readonly tenant: string;
  readonly user: string;
  readonly class: string;
  readonly flow: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly bodyBytes: number;
  readonly bodyTruncated: boolean;
}

export interface DlqFilter {
  readonly route?: string;
  /** A substring of the reason. */
  readonly reason?: string;
  readonly tenant?: string;
  readonly kind?: 'job' | 'request';
  /** Failed at or after (ms since the epoch). */
  readonly since?: number;
  /** Failed before. */
  readonly until?: number;
}

export interface DlqPage {
  readonly entries: DlqEntry[];
  /** Pass as `after` for the next page; absent at the end of the stream. */
  readonly next: string | undefined;
}

/** The smallest id an entry younger than `retentionMs` can have. */
export function minIdFor(now: number, retentionMs: number): string {
  return `${Math.max(0, Math.floor(now - retentionMs))}-0`;
}

function decode(id: string, kv: readonly Buffer[]): DlqEntry {
  const f = new Map<string, Buffer>();
  for (let i = 0; i + 1 < kv.length; i += 2) f.set((kv[i] as Buffer).toString('utf8'), kv[i + 1] as Buffer);
  const s = (name: DlqField): string => f.get(name)?.toString('utf8') ?? '';
  const n = (name: DlqField): number => {
    const v = Number(s(name));
    return Number.isFinite(v) ? v : 0;
  };
  let headers: Record<string, string> = {};
  try {
    const parsed: unknown = JSON.parse(s('headers') || '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      headers = Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    headers = {};
  }
  return {
    id,
    kind: s('kind') === 'request' ? 'request' : 'job',
    job: s('job') || undefined,
    route: s('route'),
    policy: s('policy'),
    reason: s('reason'),
    attempts: n('attempts'),
    status: s('status') ? n('status') : undefined,
    firstAt: n('firstAt'),
    failedAt: n('failedAt'),
    tenant: s('tenant'),
    user: s('user'),
    class: s('class'),
    flow: s('flow'),
    method: s('method'),
    path: s('path'),
    headers,
    body: f.get('body') ?? Buffer.alloc(0),
    bodyBytes: n('bodyBytes'),
    bodyTruncated: s('bodyTruncated') === '1',
  };
}

function matches(e: DlqEntry, f: DlqFilter): boolean {
  return (
    (f.route === undefined || e.route === f.route) &&
    (f.reason === undefined || e.reason.includes(f.reason)) &&
    (f.tenant === undefined || e.tenant === f.tenant) &&
    (f.kind === undefined || e.kind === f.kind) &&
    (f.since === undefined || e.failedAt >= f.since) &&
    (f.until === undefined || e.failedAt < f.until)
  );
}

/** Most entries a list request reads to fill one page (filters may skip most of them). */
const MAX_SCAN = 10_000;
const SCAN_BATCH = 200;

export class DlqStore {
  constructor(private readonly redis: Redis) {}

  /** Writes a synchronous request that failed for good; the entry id. */
  async write(dlq: DlqSettings, failed: FailedRequest, now: number): Promise<string> {
    const r = failed.request;
    const body = r.body.length > dlq.maxBodyBytes ? r.body.subarray(0, dlq.maxBodyBytes) : r.body;
    const values: Record<DlqField, string | Buffer> = {
      kind: 'request',
      job: '',
      route: failed.route,
      policy: failed.policy,
      reason: failed.reason.slice(0, 512),
      attempts: String(failed.attempts),
      status: failed.status > 0 ? String(failed.status) : '',
      firstAt: String(failed.firstAt),
      failedAt: String(now),
      tenant: failed.tenant ?? '',
      user: failed.user ?? '',
      class: failed.cls,
      flow: failed.flow,
      method: r.method,
      path: r.path,
      headers: JSON.stringify(r.headers),
      body,
      bodyBytes: String(r.bodyBytes),
      bodyTruncated: r.bodyTruncated || body.length < r.body.length ? '1' : '0',
    };
    const args = DLQ_FIELDS.flatMap((name) => [name, values[name]]);
    const multi = this.redis.multi();
    multi.xadd(dlq.key, 'MAXLEN', '~', dlq.maxLength, '*', ...args);
    multi.xtrim(dlq.key, 'MINID', '~', minIdFor(now, dlq.retentionMs));
    const replies = await multi.exec();
    const added = replies?.[0];
    if (!added || added[0]) throw added?.[0] ?? new Error('XADD to the dead-letter stream failed');
    return String(added[1]);
  }

  /** Entries after `after` (exclusive) that match `filter`, at most `limit`, oldest first. */
  async list(dlq: DlqSettings, filter: DlqFilter, limit: number, after?: string): Promise<DlqPage> {
    const entries: DlqEntry[] = [];
    let start = after === undefined ? '-' : `(${after}`;
    let scanned = 0;
    let last: string | undefined;
    for (;;) {
      const batch = (await this.redis.xrangeBuffer(dlq.key, start, '+', 'COUNT', SCAN_BATCH)) as [Buffer, Buffer[]][];
      for (const [rawId, kv] of batch) {
        const id = rawId.toString('utf8');
        last = id;
        scanned++;
        const e = decode(id, kv);
        if (matches(e, filter)) {
          entries.push(e);
          if (entries.length >= limit) return { entries, next: id };
        }
      }
      if (batch.length < SCAN_BATCH) return { entries, next: undefined };
      if (scanned >= MAX_SCAN) return { entries, next: last };
      start = `(${last}`;
    }
  }

  async get(dlq: DlqSettings, id: string): Promise<DlqEntry | undefined> {
    const r = (await this.redis.xrangeBuffer(dlq.key, id, id)) as [Buffer, Buffer[]][];
    const first = r[0];
    return first ? decode(first[0].toString('utf8'), first[1]) : undefined;
  }

  /** Deletes entries; how many were there. */
  async purge(dlq: DlqSettings, ids: readonly string[]): Promise<number> {
    return ids.length === 0 ? 0 : this.redis.xdel(dlq.key, ...ids);
  }

  /** Deletes every entry (failed before `before`, when given); how many went. */
  async purgeAll(dlq: DlqSettings, before?: number): Promise<number> {
    if (before === undefined) {
      const n = await this.redis.xlen(dlq.key);
      await this.redis.del(dlq.key);
      return n;
    }
    const before0 = await this.redis.xlen(dlq.key);
    await this.redis.xtrim(dlq.key, 'MINID', `${Math.max(0, Math.floor(before))}-0`);
    return before0 - (await this.redis.xlen(dlq.key));
  }

  /**
   * Puts an entry back into a route's job stream as job `jobId` with a new attempt budget and
   * removes it from the DLQ: 'replayed', 'missing' (purged or replayed already) or 'truncated'
   * (its body was cut, so the request cannot be sent as it was).
   */
  async replay(
    dlq: DlqSettings,
    id: string,
    target: {
      readonly jobId: string;
      readonly keys: RouteJobKeys;
      readonly routeId: string;
      readonly policy: string;
      readonly maxAttempts: number;
      readonly resultTtlMs: number;
      readonly hashTtlMs: number;
    },
    now: number,
  ): Promise<'replayed' | 'missing' | 'truncated'> {
    const reply = await REPLAY.run(
      this.redis,
      [dlq.key, jobKey(target.jobId), target.keys.stream],
      [id, target.jobId, now, target.maxAttempts, target.hashTtlMs, target.resultTtlMs, target.routeId, target.policy],
    );
    return reply === 1 ? 'replayed' : reply === -1 ? 'truncated' : 'missing';
  }

  /** Depth and the age of the oldest entry (ms; 0 when empty). */
  async stats(dlq: DlqSettings, now: number): Promise<{ depth: number; oldestAgeMs: number }> {
    const [depth, first] = await Promise.all([this.redis.xlen(dlq.key), this.redis.xrange(dlq.key, '-', '+', 'COUNT', 1)]);
    const id = first[0]?.[0];
    const ms = id ? Number(id.split('-')[0]) : NaN;
    return { depth, oldestAgeMs: Number.isFinite(ms) ? Math.max(0, now - ms) : 0 };
  }
}
