/**
 * The admin listener (separate from traffic, loopback by default): health, readiness, metrics,
 * and the admin API (`/admin/hotkeys`, `/admin/backends`, `/admin/config`). express serves it; it is never on the request path.
 */
import type { Server } from 'node:http';
import express, { type Router } from 'express';
import type { Registry } from 'prom-client';

export interface AdminDeps {
  readonly registry: Registry;
  readonly ready: () => { ok: boolean; detail: string };
  readonly hotkeys: () => unknown;
  /** Every backend with its breaker and every endpoint's readiness, health and ejection. */
  readonly backends: () => unknown;
  readonly config: () => unknown;
  /** More admin APIs, by mount path (e.g. /admin/dlq). */
  readonly routers?: Readonly<Record<string, Router>>;
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
  for (const [path, router] of Object.entries(deps.routers ?? {})) app.use(path, router);
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
