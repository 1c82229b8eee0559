/**
 * The admin listener (separate from traffic, loopback by default): health, readiness, metrics,
 * and the admin API (`/admin/hotkeys`, `/admin/backends`, `/admin/config`, `/admin/cache`, `/admin/features`, and the
 * routers mounted by other parts, e.g. `/admin/dlq`). express serves it; it is never on the request path.
 */
import type { Server } from 'node:http';
import express, { type Router } from 'express';
import type { Registry } from 'prom-client';
import { parseInvalidateRequest } from '../policy/cache/admin.js';
import type { CacheRegistry } from '../policy/cache/index.js';

export interface AdminDeps {
  readonly registry: Registry;
  readonly ready: () => { ok: boolean; detail: string };
  readonly hotkeys: () => unknown;
  /** Every backend with its breaker and every endpoint's readiness, health and ejection. */
  readonly backends: () => unknown;
  readonly config: () => unknown;
  /** More admin APIs, by mount path (e.g. /admin/dlq). */
  readonly routers?: Readonly<Record<string, Router>>;
  /** Every route's feature toggles and triggers, with why each toggle is off (GET /admin/features). */
  readonly features?: () => unknown;
  /** The response caches (GET /admin/cache, POST /admin/cache/invalidate). */
  readonly caches?: Pick<CacheRegistry, 'stats' | 'invalidate' | 'l2'>;
}

function problem(res: express.Response, status: number, title: string, detail: string, extra: Record<string, unknown> = {}): void {
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ title, status, detail, ...extra }));
}

export async function startAdmin(host: string, port: number, deps: AdminDeps): Promise<{ port: number; close(): Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const { ok, detail } = deps.ready();
    res
      .status(ok ? 200 : 503)
      .type('text/plain')
      .send(`${detail}\n`);
  });
  app.get('/metrics', (_req, res, next) => {
    deps.registry.metrics().then((text) => res.type(deps.registry.contentType).send(text), next);
  });
  app.get('/admin/hotkeys', (_req, res) => {
    res.json(deps.hotkeys());
  });
  app.get('/admin/backends', (_req, res) => {
    res.json(deps.backends());
  });
  app.get('/admin/config', (_req, res) => {
    res.json(deps.config());
  });
  const features = deps.features;
  if (features)
    app.get('/admin/features', (_req, res) => {
      res.json(features());
    });
  for (const [path, router] of Object.entries(deps.routers ?? {})) app.use(path, router);
  const caches = deps.caches;
  if (caches) {
    app.get('/admin/cache', (_req, res) => {
      res.json({ redis: caches.l2 !== undefined, policies: caches.stats() });
    });
    app.post('/admin/cache/invalidate', express.json({ limit: '256kb', strict: false, type: () => true }), (req, res) => {
      const parsed = parseInvalidateRequest(req.body);
      if (typeof parsed === 'string') return problem(res, 400, 'Bad invalidation request', parsed);
      caches.invalidate(parsed).then(
        (result) => {
          if (result.redis === 'unavailable')
            problem(
              res,
              503,
              'Redis unavailable',
              "Invalidated in this gateway's L1 only: Redis and the other gateways were not reached. Retry.",
              {
                policies: result.policies,
              },
            );
          else res.json({ invalidated: { tags: parsed.tags, keys: parsed.keys, all: parsed.all }, ...result });
        },
        (err: unknown) => problem(res, 404, 'Not found', err instanceof Error ? err.message : String(err)),
      );
    });
  }
  // A body that is not JSON: a problem, not express's HTML error page.
  app.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (res.headersSent) return next(err);
    const status = typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' ? err.status : 500;
    problem(res, status >= 400 && status < 500 ? status : 500, 'Bad request', err instanceof Error ? err.message : 'invalid request');
  });
  app.use((_req, res) => {
    res
      .status(404)
      .type('application/problem+json')
      .send(JSON.stringify({ title: 'Not found', status: 404 }));
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
