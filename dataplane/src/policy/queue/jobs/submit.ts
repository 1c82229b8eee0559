/**
 * Submission of an async job (a request with `Prefer: respond-async`, or every request of a route
 * whose policy says `trigger: Always`): the body is read (up to async.maxBodyBytes, larger: 413),
 * the request is stored redacted (no credentials) as a job of the route's stream with its class and
 * flow, and the client gets 202 Accepted with the job's URL. An `Idempotency-Key` (per route and
 * tenant) returns the job it created before instead of a second one, and is sent to the upstream on
 * every attempt (the job id when the client sent none).
 */
import type { QueueIR } from '@jarvis/api';
import type { Clock } from '../../../clock.js';
import { readBody } from '../../../inspect/body.js';
import type { BodySettings } from '../../../inspect/stage.js';
import { sendProblem } from '../../../observe/problem.js';
import type { Exchange } from '../../../pipeline/exchange.js';
import { ANSWERED, type Verdict } from '../../../pipeline/stage.js';
import { idempotencyKey, newJobId, type RouteJobKeys } from '../keys.js';
import { redactRequest } from '../redact.js';
import type { JobStore } from './store.js';

/** Where a job's status is served, on the traffic listener. */
export const JOBS_PATH = '/_jarvis/jobs/';

/** A client's Idempotency-Key: visible ASCII, 1-255 characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const RESPOND_ASYNC = /(^|[\s,;])respond-async($|[\s,;=])/i;

export interface SubmitDeps {
  readonly routeId: string;
  readonly ir: QueueIR;
  readonly keys: RouteJobKeys;
  readonly store: JobStore | undefined;
  readonly clock: Clock;
  /** How bodies are read (timeout, the gateway's buffer budget). */
  readonly body: BodySettings;
  readonly credentialHeaders: ReadonlySet<string>;
  readonly classNames: readonly string[];
  readonly onSubmitted?: () => void;
}

export class JobSubmitter {
  constructor(private readonly deps: SubmitDeps) {}

  /** Whether this request becomes a job. */
  wants(x: Exchange): boolean {
    return this.deps.ir.async?.trigger === 'Always' || RESPOND_ASYNC.test(x.header('prefer') ?? '');
  }

  async submit(x: Exchange, cls: number, flow: string): Promise<Verdict> {
    const { ir, store } = this.deps;
    const a = ir.async;
    if (!a) throw new Error('submit on a route without async');
    const key = x.header('idempotency-key');
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      x.req.resume();
      return this.#problem(
        x,
        400,
        'invalid-idempotency-key',
        'Invalid Idempotency-Key',
        'Idempotency-Key must be 1 to 255 visible ASCII characters.',
      );
    }
    const tooLarge = (): Verdict => {
      x.error = 'body-too-large';
      return this.#problem(
        x,
        413,
        'body-too-large',
        'Request body too large',
        `An async request's body may be at most ${a.maxBodyBytes} bytes.`,
      );
    };
    // The buffer stage has read the body (x.body), or the first part of a longer one
    // (x.bodyPrefix, the rest still to come), or nothing (declared longer than its buffer).
    let body = x.body;
    if (body === undefined && x.hasBody) {
      const prefix = x.bodyPrefix ?? [];
      const have = prefix.reduce((n, b) => n + b.length, 0);
      if (have > a.maxBodyBytes || Number(x.req.headers['content-length'] ?? 0) > a.maxBodyBytes) {
        x.req.resume();
        return tooLarge();
      }
      x.req.resume();
      const read = await readBody(x.req, {
        limit: a.maxBodyBytes - have,
        overflow: 'refuse',
        timeoutMs: this.deps.body.timeoutMs,
        timers: this.deps.body.timers,
        budget: this.deps.body.budget,
      });
      // What this read reserved of the buffer budget is given back when the exchange ends (buffer stage).
      x.bodyReserved += read.reserved;
      if (read.ok !== true) {
        if (read.ok === false && read.reason === 'aborted') {
          x.status = 499;
          x.error = 'client-gone';
          return ANSWERED;
        }
        if (read.ok === false && read.reason === 'timeout')
          return this.#problem(
            x,
            408,
            'request-timeout',
            'Request body too slow',
            `The request body did not arrive within ${this.deps.body.timeoutMs} ms.`,
          );
        if (read.ok === false && read.reason === 'busy')
          return this.#problem(
            x,
            503,
            'gateway-busy',
            'Gateway busy',
            'The gateway holds as many request bodies as it may; try again shortly.',
            { 'retry-after': '1' },
          );
        return tooLarge();
      }
      body = prefix.length === 0 ? read.body : Buffer.concat([...prefix, read.body]);
      x.bodyPrefix = undefined;
    } else if (body !== undefined && body.length > a.maxBodyBytes) return tooLarge();
    if (!store)
      return this.#problem(x, 503, 'jobs-unavailable', 'Async jobs unavailable', 'This gateway has no Redis for async jobs (--redis).', {
        'retry-after': '5',
      });
    const namespace = ir.source.namespace;
    const id = newJobId(namespace);
    const now = this.deps.clock.now();
    let result;
    try {
      result = await store.submit({
        id,
        keys: this.deps.keys,
        routeId: this.deps.routeId,
        policy: `${namespace}/${ir.source.name}`,
        cls: this.deps.classNames[cls] ?? '',
        flow,
        tenant: x.tenant,
        user: x.user,
        clientIp: x.clientIp,
        request: redactRequest(x.method, x.url, x.headers, body, a.maxBodyBytes, this.deps.credentialHeaders),
        idem: key ?? id,
        idemKey: key === undefined ? undefined : idempotencyKey(namespace, this.deps.routeId, x.tenant ?? '', key),
        maxAttempts: a.maxAttempts,
        resultTtlMs: a.resultTtlMs,
        maxPending: a.maxPending,
        now,
      });
    } catch (err) {
      return this.#problem(
        x,
        503,
        'jobs-unavailable',
        'Async jobs unavailable',
        `The job could not be stored: ${err instanceof Error ? err.message : String(err)}`,
        {
          'retry-after': '1',
        },
      );
    }
    if (result.kind === 'full')
      return this.#problem(
        x,
        ir.rejectStatus,
        'job-queue-full',
        'Job queue full',
        `This route has ${a.maxPending} unfinished jobs, its most.`,
        {
          'retry-after': '5',
        },
      );
    if (result.kind === 'created') this.deps.onSubmitted?.();
    const href = `${JOBS_PATH}${result.id}`;
    const text = JSON.stringify({
      id: result.id,
      state: result.kind === 'created' ? 'pending' : undefined,
      href,
      duplicate: result.kind === 'existing' || undefined,
    });
    x.status = 202;
    x.res.writeHead(202, {
      ...x.responseHeaders,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      location: href,
      ...(RESPOND_ASYNC.test(x.header('prefer') ?? '') ? { 'preference-applied': 'respond-async' } : {}),
    });
    x.res.end(text);
    return ANSWERED;
  }

  #problem(x: Exchange, status: number, type: string, title: string, detail: string, headers?: Record<string, string>): Verdict {
    x.status = status;
    sendProblem(x.res, status, type, title, detail, undefined, { ...x.responseHeaders, ...headers });
    return ANSWERED;
  }
}
