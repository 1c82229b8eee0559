/**
 * `/_jarvis/jobs/<id>` on the traffic listener (a front stage, after identify, before routing; the
 * prefix is reserved): GET shows a job (pending, running, done with the upstream's answer, failed
 * with the reason and its dead-letter entry, cancelled), DELETE cancels a job that has not finished.
 * The id is checked strictly before anything is read; a job submitted by a tenant is shown only to
 * that tenant (anyone else gets 404, as for an unknown job).
 */
import { sendProblem } from '../../../observe/problem.js';
import type { Exchange } from '../../../pipeline/exchange.js';
import { ANSWERED, CONTINUE, type Stage, type Verdict } from '../../../pipeline/stage.js';
import type { Clock } from '../../../clock.js';
import { parseJobId, routeJobKeys } from '../keys.js';
import type { JobStore, JobView } from './store.js';
import { JOBS_PATH } from './submit.js';

export interface JobsEndpointDeps {
  /** Undefined when the gateway has no Redis. */
  readonly store: () => JobStore | undefined;
  readonly clock: Clock;
}

/** The route id jobs requests have in metrics. */
export const JOBS_ROUTE_ID = '_jarvis/jobs';

function isText(type: string | undefined, body: Buffer): boolean {
  if (type !== undefined && /^(text\/|application\/(.+\+)?json|application\/(x-ndjson|xml|x-www-form-urlencoded))/i.test(type)) return true;
  return Buffer.from(body.toString('utf8'), 'utf8').equals(body);
}

/** The JSON a job URL answers with. */
export function jobJson(v: JobView): Record<string, unknown> {
  const iso = (ms: number | undefined) => (ms === undefined || ms <= 0 ? undefined : new Date(ms).toISOString());
  const r = v.result;
  const text = r ? isText(r.headers['content-type'], r.body) : false;
  return {
    id: v.id,
    state: v.state,
    route: v.route,
    attempts: v.attempts,
    maxAttempts: v.maxAttempts,
    submittedAt: iso(v.submittedAt),
    updatedAt: iso(v.updatedAt),
    finishedAt: iso(v.finishedAt),
    ...(v.replays > 0 ? { replays: v.replays } : {}),
    ...(v.error !== undefined && v.state !== 'done' ? { error: v.error } : {}),
    ...(v.deadLetter !== undefined ? { deadLetter: v.deadLetter } : {}),
    ...(r
      ? {
          result: {
            status: r.status,
            headers: r.headers,
            body: text ? r.body.toString('utf8') : r.body.toString('base64'),
            bodyEncoding: text ? 'utf8' : 'base64',
            truncated: r.truncated,
          },
        }
      : {}),
  };
}

export class JobsEndpointStage implements Stage {
  readonly name = 'jobs';
  constructor(private readonly deps: JobsEndpointDeps) {}

  enter(x: Exchange): Verdict | Promise<Verdict> {
    if (!x.path.startsWith(JOBS_PATH)) return CONTINUE;
    x.routeId = JOBS_ROUTE_ID;
    x.req.resume();
    const raw = x.path.slice(JOBS_PATH.length);
    const id = raw.length <= 128 ? parseJobId(raw) : undefined;
    if (!id)
      return this.#problem(
        x,
        400,
        'invalid-job-id',
        'Invalid job id',
        'A job id is <namespace>.<32 lower-case hex digits>, as the Location of a 202 answer gives it.',
      );
    if (x.method !== 'GET' && x.method !== 'HEAD' && x.method !== 'DELETE')
      return this.#problem(x, 405, 'method-not-allowed', 'Method not allowed', 'A job URL takes GET and DELETE.', {
        allow: 'GET, HEAD, DELETE',
      });
    const store = this.deps.store();
    if (!store)
      return this.#problem(x, 503, 'jobs-unavailable', 'Async jobs unavailable', 'This gateway has no Redis for async jobs (--redis).');
    return this.#handle(x, store, raw).catch(() =>
      this.#problem(x, 503, 'jobs-unavailable', 'Async jobs unavailable', 'The job store did not answer.', { 'retry-after': '1' }),
    );
  }

  async #handle(x: Exchange, store: JobStore, id: string): Promise<Verdict> {
    const view = await store.get(id);
    // Another tenant's job is as unknown as one that never was.
    if (!view || (view.tenant !== '' && view.tenant !== (x.tenant ?? '')))
      return this.#problem(x, 404, 'job-not-found', 'Job not found', 'There is no such job, or its result has expired.');
    if (x.method === 'DELETE') {
      const [policyNs, policyName] = view.policy.split('/');
      const state = await store.cancel(id, routeJobKeys(policyNs ?? '', policyName ?? '', view.route), this.deps.clock.now());
      if (state === 'missing')
        return this.#problem(x, 404, 'job-not-found', 'Job not found', 'There is no such job, or its result has expired.');
      if (state !== 'ok')
        return this.#problem(
          x,
          409,
          'job-finished',
          'Job already finished',
          `The job is ${state}; only a pending or running job can be cancelled.`,
        );
      const after = await store.get(id);
      return this.#json(x, 200, after ? jobJson(after) : { id, state: 'cancelled' });
    }
    return this.#json(x, 200, jobJson(view), view.state === 'pending' || view.state === 'running' ? { 'retry-after': '1' } : undefined);
  }

  #json(x: Exchange, status: number, value: unknown, headers?: Record<string, string>): Verdict {
    const text = JSON.stringify(value);
    x.status = status;
    x.res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...headers,
    });
    x.res.end(x.method === 'HEAD' ? undefined : text);
    return ANSWERED;
  }

  #problem(x: Exchange, status: number, type: string, title: string, detail: string, headers?: Record<string, string>): Verdict {
    x.status = status;
    sendProblem(x.res, status, type, title, detail, undefined, headers);
    return ANSWERED;
  }
}
