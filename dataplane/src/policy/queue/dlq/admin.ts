/**
 * The dead-letter admin API, on the admin listener (express; never on the traffic path). Only the
 * dead-letter streams of the config in force can be addressed, by `<namespace>/<stream>`:
 *
 *   GET    /admin/dlq                                   the streams in use, with depth and oldest age
 *   GET    /admin/dlq/:ns/:stream                       entries, oldest first (no bodies); filters
 *                                                       route, reason (substring), tenant, kind
 *                                                       (job|request), since, until (ISO time or ms);
 *                                                       paging: limit (1-1000, default 100), after
 *                                                       (the `next` of the previous page)
 *   GET    /admin/dlq/:ns/:stream/:id                   one entry, with its (redacted) request and body
 *   DELETE /admin/dlq/:ns/:stream/:id                   purge one entry
 *   POST   /admin/dlq/:ns/:stream/:id/replay            replay one entry
 *   POST   /admin/dlq/:ns/:stream/replay                replay many: {"ids": [...]} or {"filter": {...}, "limit": n}
 *   POST   /admin/dlq/:ns/:stream/purge                 purge many: {"ids": [...]}, {"before": time} or {"all": true}
 *
 * Replaying puts the entry back into its route's job stream as a job with a new attempt budget
 * (the policy's maxAttempts) and removes it from the DLQ; the job keeps its id (an entry of a
 * synchronous request gets a new one), so its URL shows it pending again. Bad input is a 4xx
 * problem+json: an unknown stream or entry (404, also for an entry purged or replayed already), a
 * malformed id or filter (400), an entry whose body was cut or whose route runs no jobs (409).
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Clock } from '../../../clock.js';
import { ENTRY_ID_PATTERN, NAMESPACE_PATTERN, STREAM_NAME_PATTERN, newJobId, parseJobId } from '../keys.js';
import { UNFINISHED_TTL_MS } from '../jobs/store.js';
import type { QueueRuntime } from '../runtime.js';
import type { DlqEntry, DlqFilter, DlqStore } from './store.js';

const PROBLEM_BASE = 'https://stability.jarvis.io/problems/';
const MAX_IDS = 1000;

class BadInput extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly title: string,
    detail: string,
  ) {
    super(detail);
  }
}

function problem(res: Response, status: number, type: string, title: string, detail: string): void {
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ type: `${PROBLEM_BASE}${type}`, title, status, detail }));
}

function iso(ms: number): string | undefined {
  return ms > 0 ? new Date(ms).toISOString() : undefined;
}

function isText(body: Buffer): boolean {
  return Buffer.from(body.toString('utf8'), 'utf8').equals(body);
}

function summary(e: DlqEntry): Record<string, unknown> {
  return {
    id: e.id,
    kind: e.kind,
    ...(e.job ? { job: e.job } : {}),
    route: e.route,
    policy: e.policy,
    reason: e.reason,
    attempts: e.attempts,
    ...(e.status !== undefined ? { status: e.status } : {}),
    firstAt: iso(e.firstAt),
    failedAt: iso(e.failedAt),
    tenant: e.tenant || undefined,
    user: e.user || undefined,
    class: e.class || undefined,
    method: e.method,
    path: e.path,
    bodyBytes: e.bodyBytes,
    bodyTruncated: e.bodyTruncated,
  };
}

function full(e: DlqEntry): Record<string, unknown> {
  const text = isText(e.body);
  return {
    ...summary(e),
    headers: e.headers,
    body: text ? e.body.toString('utf8') : e.body.toString('base64'),
    bodyEncoding: text ? 'utf8' : 'base64',
  };
}

/** A time as ISO 8601 or ms since the epoch. */
function time(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,16}$/.test(value)) return Number(value);
  if (typeof value === 'string' && value.length <= 64) {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
  }
  throw new BadInput(400, 'invalid-filter', 'Invalid filter', `${what}: expected an ISO 8601 time or milliseconds since the epoch`);
}

function text(value: unknown, what: string, max = 253): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    throw new BadInput(400, 'invalid-filter', 'Invalid filter', `${what}: expected a string of 1 to ${max} characters`);
  return value;
}

function filterOf(q: Record<string, unknown>): DlqFilter {
  const kind = q['kind'];
  if (kind !== undefined && kind !== 'job' && kind !== 'request')
    throw new BadInput(400, 'invalid-filter', 'Invalid filter', 'kind: expected job or request');
  const f: { -readonly [K in keyof DlqFilter]: DlqFilter[K] } = {};
  const route = text(q['route'], 'route');
  const reason = text(q['reason'], 'reason', 512);
  const tenant = text(q['tenant'], 'tenant');
  const since = time(q['since'], 'since');
  const until = time(q['until'], 'until');
  if (route !== undefined) f.route = route;
  if (reason !== undefined) f.reason = reason;
  if (tenant !== undefined) f.tenant = tenant;
  if (kind !== undefined) f.kind = kind;
  if (since !== undefined) f.since = since;
  if (until !== undefined) f.until = until;
  return f;
}

function limitOf(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_IDS)
    throw new BadInput(400, 'invalid-limit', 'Invalid limit', `limit: expected an integer from 1 to ${MAX_IDS}`);
  return n;
}

function entryId(value: unknown): string {
  if (typeof value !== 'string' || !ENTRY_ID_PATTERN.test(value))
    throw new BadInput(
      400,
      'invalid-entry-id',
      'Invalid entry id',
      `${JSON.stringify(String(value).slice(0, 64))} is not a stream entry id (<ms>-<seq>)`,
    );
  return value;
}

function idsOf(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_IDS)
    throw new BadInput(400, 'invalid-body', 'Invalid body', `ids: expected a list of 1 to ${MAX_IDS} entry ids`);
  return value.map(entryId);
}

function bodyObject(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === undefined) return {};
  if (typeof b !== 'object' || b === null || Array.isArray(b))
    throw new BadInput(400, 'invalid-body', 'Invalid body', 'expected a JSON object');
  return b as Record<string, unknown>;
}

export function dlqRouter(runtime: QueueRuntime, clock: Clock): Router {
  const router = express.Router();
  router.use(express.json({ limit: '64kb' }));

  const store = (): DlqStore => {
    if (!runtime.dlq) throw new BadInput(503, 'dlq-unavailable', 'Dead-letter queue unavailable', 'This gateway has no Redis (--redis).');
    return runtime.dlq;
  };
  const dlqOf = (req: Request) => {
    const ns = String(req.params['namespace']);
    const stream = String(req.params['stream']);
    if (!NAMESPACE_PATTERN.test(ns) || !STREAM_NAME_PATTERN.test(stream))
      throw new BadInput(
        400,
        'invalid-stream',
        'Invalid stream',
        'Expected /admin/dlq/<namespace>/<stream> with a namespace and a stream name as the CRD allows them.',
      );
    const d = runtime.dlqs().get(`${ns}/${stream}`);
    if (!d)
      throw new BadInput(
        404,
        'dlq-not-found',
        'Dead-letter stream not found',
        `No QueuePolicy of the config in force uses the dead-letter stream ${ns}/${stream}.`,
      );
    return d;
  };

  /** Replays one entry; the outcome for the answer. */
  const replayOne = async (
    ns: string,
    stream: string,
    id: string,
  ): Promise<{ id: string; result: 'replayed' | 'missing' | 'truncated' | 'no-route'; job?: string; detail?: string }> => {
    const d = runtime.dlqs().get(`${ns}/${stream}`);
    if (!d) return { id, result: 'missing' };
    const s = store();
    const e = await s.get(d, id);
    if (!e) return { id, result: 'missing' };
    const target = runtime.jobRoutes().get(e.route);
    if (!target || target.namespace !== ns || !target.ir.async)
      return { id, result: 'no-route', detail: `route ${e.route} runs no async jobs of namespace ${ns} in the config in force` };
    const job = e.job && parseJobId(e.job)?.namespace === ns ? e.job : newJobId(ns);
    const result = await s.replay(
      d,
      id,
      {
        jobId: job,
        keys: target.keys,
        routeId: target.routeId,
        policy: target.policy,
        maxAttempts: target.ir.async.maxAttempts,
        resultTtlMs: target.ir.async.resultTtlMs,
        hashTtlMs: UNFINISHED_TTL_MS,
      },
      clock.now(),
    );
    return result === 'replayed' ? { id, result, job } : { id, result };
  };

  router.get('/', async (_req, res) => {
    const now = clock.now();
    const out = [];
    for (const d of runtime.dlqs().values()) {
      const stats = runtime.dlq ? await runtime.dlq.stats(d, now).catch(() => undefined) : undefined;
      out.push({
        namespace: d.namespace,
        stream: d.stream,
        policies: d.policies,
        routes: d.routes,
        depth: stats?.depth ?? null,
        oldestAgeSeconds: stats ? stats.oldestAgeMs / 1000 : null,
      });
    }
    res.json({ streams: out });
  });

  router.get('/:namespace/:stream', async (req, res) => {
    const d = dlqOf(req);
    const q = req.query as Record<string, unknown>;
    const page = await store().list(d, filterOf(q), limitOf(q['limit'], 100), q['after'] === undefined ? undefined : entryId(q['after']));
    res.json({ entries: page.entries.map(summary), ...(page.next ? { next: page.next } : {}) });
  });

  router.get('/:namespace/:stream/:id', async (req, res) => {
    const d = dlqOf(req);
    const e = await store().get(d, entryId(req.params['id']));
    if (!e) throw new BadInput(404, 'entry-not-found', 'Entry not found', 'No such entry: it was purged or replayed, or never was.');
    res.json(full(e));
  });

  router.delete('/:namespace/:stream/:id', async (req, res) => {
    const d = dlqOf(req);
    const n = await store().purge(d, [entryId(req.params['id'])]);
    if (n === 0) throw new BadInput(404, 'entry-not-found', 'Entry not found', 'No such entry: it was purged or replayed already.');
    res.json({ purged: n });
  });

  router.post('/:namespace/:stream/:id/replay', async (req, res) => {
    const d = dlqOf(req);
    const r = await replayOne(d.namespace, d.stream, entryId(req.params['id']));
    if (r.result === 'missing')
      throw new BadInput(404, 'entry-not-found', 'Entry not found', 'No such entry: it was purged or replayed already.');
    if (r.result === 'truncated')
      throw new BadInput(
        409,
        'entry-truncated',
        'Entry cannot be replayed',
        'Its body was cut at the dead-letter size cap, so the request cannot be sent as it was.',
      );
    if (r.result === 'no-route') throw new BadInput(409, 'no-job-route', 'Entry cannot be replayed', r.detail ?? 'Its route runs no jobs.');
    res.status(202).json({ replayed: [{ id: r.id, job: r.job, href: `/_jarvis/jobs/${r.job}` }] });
  });

  router.post('/:namespace/:stream/replay', async (req, res) => {
    const d = dlqOf(req);
    const body = bodyObject(req);
    let ids: string[];
    if (body['ids'] !== undefined) ids = idsOf(body['ids']);
    else if (body['filter'] !== undefined) {
      const f = body['filter'];
      if (typeof f !== 'object' || f === null || Array.isArray(f))
        throw new BadInput(400, 'invalid-filter', 'Invalid filter', 'filter: expected an object');
      const page = await store().list(d, filterOf(f as Record<string, unknown>), limitOf(body['limit'], 100));
      ids = page.entries.map((e) => e.id);
    } else throw new BadInput(400, 'invalid-body', 'Invalid body', 'Expected {"ids": [...]} or {"filter": {...}, "limit": n}.');
    const results = [];
    for (const id of ids) results.push(await replayOne(d.namespace, d.stream, id));
    res.json({
      replayed: results.filter((r) => r.result === 'replayed').map((r) => ({ id: r.id, job: r.job })),
      missing: results.filter((r) => r.result === 'missing').map((r) => r.id),
      refused: results.filter((r) => r.result === 'truncated' || r.result === 'no-route').map((r) => ({ id: r.id, reason: r.result })),
    });
  });

  router.post('/:namespace/:stream/purge', async (req, res) => {
    const d = dlqOf(req);
    const body = bodyObject(req);
    const s = store();
    if (body['ids'] !== undefined) res.json({ purged: await s.purge(d, idsOf(body['ids'])) });
    else if (body['before'] !== undefined) res.json({ purged: await s.purgeAll(d, time(body['before'], 'before')) });
    else if (body['all'] === true) res.json({ purged: await s.purgeAll(d) });
    else throw new BadInput(400, 'invalid-body', 'Invalid body', 'Expected {"ids": [...]}, {"before": time} or {"all": true}.');
  });

  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof BadInput) return problem(res, err.status, err.type, err.title, err.message);
    const e = err as { type?: unknown; status?: unknown; message?: unknown };
    if (e.type === 'entity.parse.failed' || e.type === 'entity.too.large')
      return problem(
        res,
        e.status === 413 ? 413 : 400,
        'invalid-body',
        'Invalid body',
        typeof e.message === 'string' ? e.message : 'The body is not valid JSON.',
      );
    problem(res, 503, 'dlq-unavailable', 'Dead-letter queue unavailable', err instanceof Error ? err.message : String(err));
  });
  return router;
}
