/**
 * One node:http server per mock. Every request gets the mock's current behaviour — a delay (fixed
 * plus jitter) and, at the configured rate, an injected error — before its kind answers.
 * `/healthz` and the admin endpoints under `/__mock/` skip both:
 *
 *   GET  /__mock/config   the current behaviour
 *   POST /__mock/config   change it (a partial Behaviour as JSON); answers the new one
 *   GET  /__mock/stats    requests and responses by status since the start (or the last reset),
 *                         and the `x-jarvis-features` values received (a gateway's feature toggles)
 *   GET  /__mock/jobs     async jobs (x-jarvis-job-id) served successfully, with how many times
 *   POST /__mock/reset    zero the stats and restore the initial behaviour
 *
 * With `concurrency`, at most that many requests are served at once and the rest wait in the
 * mock's queue (capacity = concurrency / latency). A request carrying `x-jarvis-deadline` (Unix
 * ms, set by the gateway's queue) that arrives after it is counted in `lateArrivals`; every answer
 * says when its request arrived (`x-mock-received-at`, Unix ms). With
 * `idempotency`, a repeated `Idempotency-Key` gets the first successful answer again.
 */
import { type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { type Clock, type Timers, systemClock, systemTimers } from '@jarvis/api';

import { type KindHandler, type MockContext, type MockRequest, errorBody } from './context.js';
import { KINDS } from './kinds/index.js';
import { type Behaviour, type MockDef, type MockKind, type MockSpec, initialBehaviour, parseBehaviourPatch, parseSpec } from './spec.js';

/** Largest request body a mock reads. */
export const MAX_BODY_BYTES = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export interface MockDeps {
  clock?: Clock;
  timers?: Timers;
  /** Uniform in [0, 1): drives jitter and error injection (tests pass a fixed sequence). */
  random?: () => number;
}

export interface MockStats {
  name: string;
  kind: MockKind;
  /** Requests to the mock's API (not /healthz, not /__mock/). */
  requests: number;
  /** Responses by status. */
  byStatus: Record<string, number>;
  /** Errors injected by the behaviour (also counted in byStatus). */
  injectedErrors: number;
  /** Requests with an `x-jarvis-deadline`, and those of them that arrived after it. */
  withDeadline: number;
  lateArrivals: number;
  /** How late the latest of them was (ms). */
  lateArrivalMaxMs: number;
  /** Most requests served at once. */
  maxConcurrent: number;
  /** Requests waiting in the mock's queue now (behind `concurrency`). */
  waiting: number;
  /** Requests answered from the idempotency cache (not served again). */
  idempotentReplays: number;
  /** Distinct job ids served successfully, and those served successfully more than once. */
  jobsCompleted: number;
  jobsCompletedTwice: number;
  /** Requests by the value of their `x-jarvis-features` header (up to 64 distinct values; `(none)`: no header). */
  features: Record<string, number>;
  /** The `x-jarvis-features` value of the latest request (null: none). */
  lastFeatures: string | null;
}

/** The header through which a gateway's DegradationPolicy tells an application its features' state. */
export const FEATURES_HEADER = 'x-jarvis-features';
const MAX_FEATURE_VALUES = 64;

/** Bounds of the idempotency cache, the job table and the mock's own queue. */
const MAX_IDEMPOTENCY_KEYS = 200_000;
const MAX_JOBS = 1_000_000;
const MAX_WAITING = 100_000;

interface Served {
  readonly key: string | undefined;
  readonly job: string | undefined;
}

export interface RunningMock {
  readonly name: string;
  readonly kind: MockKind;
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  behaviour(): Behaviour;
  configure(patch: Partial<Behaviour>): Behaviour;
  stats(): MockStats;
  resetStats(): void;
  close(): Promise<void>;
}

export interface RunningMocks {
  readonly mocks: readonly RunningMock[];
  /** The mock of that name; throws when there is none. */
  get(name: string): RunningMock;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage, limit: number, done: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > limit) {
      over = true;
      done(undefined);
      return;
    }
    chunks.push(chunk);
  });
  req.once('end', () => {
    if (!over) done(chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size));
  });
  req.once('error', () => undefined);
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startMock(def: MockDef, deps: MockDeps = {}): Promise<RunningMock> {
  const clock = deps.clock ?? systemClock;
  const timers = deps.timers ?? systemTimers;
  const random = deps.random ?? Math.random;
  const handler: KindHandler = KINDS[def.kind];
  let behaviour = initialBehaviour(def);
  let injecting = false;
  const refresh = (): void => {
    injecting = behaviour.latencyMs > 0 || behaviour.jitterMs > 0 || behaviour.errorRate > 0;
  };
  refresh();
  let requests = 0;
  let injectedErrors = 0;
  let byStatus = new Map<number, number>();
  let ids = 0;
  let withDeadline = 0;
  let lateArrivals = 0;
  let latestArrivalMs = 0;
  let busy = 0;
  let features = new Map<string, number>();
  let lastFeatures: string | null = null;
  let maxConcurrent = 0;
  let idempotentReplays = 0;
  let waiting: MockRequest[] = [];
  let waitHead = 0;
  const remembered = new Map<string, { status: number; headers: OutgoingHttpHeaders; body: string | Buffer }>();
  let jobs = new Map<string, number>();
  const served = new WeakMap<ServerResponse, Served>();

  const count = (status: number): void => {
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  };
  const nameHeader = def.name;
  const send = (res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string | Buffer): void => {
    count(status);
    const what = served.get(res);
    if (what && status >= 200 && status < 300) {
      if (what.key !== undefined && behaviour.idempotency) {
        if (remembered.size >= MAX_IDEMPOTENCY_KEYS) remembered.delete(remembered.keys().next().value as string);
        remembered.set(what.key, { status, headers, body });
      }
      if (what.job !== undefined && (jobs.has(what.job) || jobs.size < MAX_JOBS)) jobs.set(what.job, (jobs.get(what.job) ?? 0) + 1);
    }
    res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body), 'x-mock-name': nameHeader });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, value: unknown, headers: OutgoingHttpHeaders = {}): void => {
    send(res, status, { ...headers, 'content-type': 'application/json' }, JSON.stringify(value));
  };
  const ctx: MockContext = { def, clock, timers, behaviour: () => behaviour, send, json, count, nextId: () => ++ids };

  const inject = (request: MockRequest): void => {
    const b = behaviour;
    const delay = b.latencyMs + (b.jitterMs > 0 ? random() * b.jitterMs : 0);
    let status = 0;
    if (b.errorRate > 0 && random() < b.errorRate) {
      status = b.errorStatuses[Math.floor(random() * b.errorStatuses.length)] ?? 500;
    }
    const act = (): void => {
      if (status === 0) {
        handler.handle(ctx, request);
        return;
      }
      injectedErrors++;
      json(
        request.res,
        status,
        errorBody(status, `injected failure from mock ${def.name}`),
        status === 429 || status === 503 ? { 'retry-after': '1' } : {},
      );
    };
    if (delay > 0) timers.after(delay, act);
    else act();
  };

  const admin = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    const reply = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (path === '/__mock/config' && req.method === 'POST') {
      readBody(req, 64 * 1024, (body) => {
        try {
          const value: unknown = body === undefined ? undefined : JSON.parse(body.toString('utf8'));
          reply(200, running.configure(parseBehaviourPatch(value)));
        } catch (err) {
          reply(400, errorBody(400, err instanceof Error ? err.message : String(err)));
        }
      });
    } else if (path === '/__mock/config' && req.method === 'GET') reply(200, behaviour);
    else if (path === '/__mock/stats' && req.method === 'GET') reply(200, running.stats());
    else if (path === '/__mock/jobs' && req.method === 'GET') reply(200, { completed: Object.fromEntries(jobs) });
    else if (path === '/__mock/reset' && req.method === 'POST') {
      running.resetStats();
      behaviour = initialBehaviour(def);
      refresh();
      reply(200, behaviour);
    } else
      reply(
        404,
        errorBody(404, 'admin endpoints: GET/POST /__mock/config, GET /__mock/stats, GET /__mock/jobs, POST /__mock/reset', 'not_found'),
      );
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path.startsWith('/__mock/')) {
      admin(req, res, path);
      return;
    }
    if (path === '/healthz') {
      const ok = behaviour.healthy;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'x-mock-name': nameHeader });
      res.end(ok ? '{"status":"ok"}' : '{"status":"unhealthy"}');
      return;
    }
    requests++;
    const told = req.headers[FEATURES_HEADER];
    lastFeatures = typeof told === 'string' ? told : null;
    const featureKey = lastFeatures ?? '(none)';
    if (features.has(featureKey) || features.size < MAX_FEATURE_VALUES) features.set(featureKey, (features.get(featureKey) ?? 0) + 1);
    // When the request reached the mock (Unix ms): a client can tell how long it waited before.
    res.setHeader('x-mock-received-at', String(clock.now()));
    const deadline = req.headers['x-jarvis-deadline'];
    if (typeof deadline === 'string') {
      withDeadline++;
      const late = clock.now() - Number(deadline);
      if (late > 0) {
        lateArrivals++;
        if (late > latestArrivalMs) latestArrivalMs = late;
      }
    }
    const key = req.headers['idempotency-key'];
    const job = req.headers['x-jarvis-job-id'];
    if (typeof key === 'string' || typeof job === 'string')
      served.set(res, { key: typeof key === 'string' ? key : undefined, job: typeof job === 'string' ? job : undefined });
    const kept = typeof key === 'string' && behaviour.idempotency ? remembered.get(key) : undefined;
    if (kept) {
      idempotentReplays++;
      served.delete(res);
      count(kept.status);
      res.writeHead(kept.status, {
        ...kept.headers,
        'content-length': Buffer.byteLength(kept.body),
        'x-mock-name': nameHeader,
        'idempotent-replay': 'true',
      });
      res.end(kept.body);
      return;
    }
    if (!handler.readsBody) {
      // An unread body is discarded by node:http once the response ends.
      admitRequest({ req, res, path, body: EMPTY });
      return;
    }
    readBody(req, MAX_BODY_BYTES, (body) => {
      if (body === undefined) {
        res.setHeader('connection', 'close');
        json(res, 413, errorBody(413, `request body over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      admitRequest({ req, res, path, body });
    });
  };

  const serve = (request: MockRequest): void => {
    if (injecting) inject(request);
    else handler.handle(ctx, request);
  };

  /** Serves now, or queues behind the requests being served when `concurrency` is reached. */
  const admitRequest = (request: MockRequest): void => {
    const limit = behaviour.concurrency;
    if (limit <= 0) return serve(request);
    if (busy >= limit) {
      if (waiting.length - waitHead >= MAX_WAITING) {
        json(request.res, 503, errorBody(503, `mock ${def.name}: ${MAX_WAITING} requests waiting`), { 'retry-after': '1' });
        return;
      }
      waiting.push(request);
      return;
    }
    start(request);
  };

  const start = (request: MockRequest): void => {
    busy++;
    if (busy > maxConcurrent) maxConcurrent = busy;
    request.res.once('close', release);
    serve(request);
  };

  const release = (): void => {
    busy--;
    while (waitHead < waiting.length && (behaviour.concurrency <= 0 || busy < behaviour.concurrency)) {
      const next = waiting[waitHead++] as MockRequest;
      if (waitHead > 1024 && waitHead * 2 > waiting.length) {
        waiting = waiting.slice(waitHead);
        waitHead = 0;
      }
      if (next.res.destroyed) continue;
      start(next);
    }
  };

  const server = createServer(onRequest);
  // Longer than any client's idle time, so the client closes idle connections, not the mock.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const host = def.host ?? '127.0.0.1';
  const port = await listen(server, host, def.port ?? 0);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;

  const running: RunningMock = {
    name: def.name,
    kind: def.kind,
    host,
    port,
    url: `http://${urlHost}:${port}`,
    behaviour: () => behaviour,
    configure(patch) {
      behaviour = { ...behaviour, ...patch };
      refresh();
      return behaviour;
    },
    stats: () => {
      let twice = 0;
      for (const n of jobs.values()) if (n > 1) twice++;
      return {
        name: def.name,
        kind: def.kind,
        requests,
        byStatus: Object.fromEntries(byStatus),
        injectedErrors,
        withDeadline,
        lateArrivals,
        lateArrivalMaxMs: latestArrivalMs,
        maxConcurrent,
        waiting: waiting.length - waitHead,
        idempotentReplays,
        jobsCompleted: jobs.size,
        jobsCompletedTwice: twice,
        features: Object.fromEntries(features),
        lastFeatures,
      };
    },
    resetStats() {
      requests = 0;
      injectedErrors = 0;
      withDeadline = 0;
      lateArrivals = 0;
      latestArrivalMs = 0;
      maxConcurrent = busy;
      idempotentReplays = 0;
      jobs = new Map();
      byStatus = new Map();
      features = new Map();
      lastFeatures = null;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
  return running;
}

/** Starts every mock of the spec (a MockSpec, or its JSON); on a failure the started ones are closed. */
export async function startMocks(spec: MockSpec | string, deps: MockDeps = {}): Promise<RunningMocks> {
  const parsed = parseSpec(spec);
  const mocks: RunningMock[] = [];
  try {
    for (const def of parsed.mocks) mocks.push(await startMock(def, deps));
  } catch (err) {
    await Promise.all(mocks.map((m) => m.close()));
    throw err;
  }
  return {
    mocks,
    get(name) {
      const m = mocks.find((x) => x.name === name);
      if (!m) throw new Error(`no mock named ${name}`);
      return m;
    },
    close: async () => {
      await Promise.all(mocks.map((m) => m.close()));
    },
  };
}
