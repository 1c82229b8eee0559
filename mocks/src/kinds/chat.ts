/**
 * A chat API that answers on any path: it echoes what the gateway passed on (method, path, the
 * identity headers, feature toggles) so the demo shows what reached the backend.
 */
import { type KindHandler, header, isRecord, parseJson } from '../context.js';
import { FEATURES_HEADER } from './search.js';

export const chatKind = {
  readsBody: true,
  handle(ctx, { req, res, path, body }) {
    const value = body.length > 0 ? parseJson(body) : undefined;
    const message = isRecord(value) && typeof value['message'] === 'string' ? value['message'] : undefined;
    ctx.json(res, 200, {
      service: ctx.def.name,
      method: req.method ?? 'GET',
      path,
      reply: message === undefined ? 'hello' : `echo: ${message.slice(0, 200)}`,
      tenant: header(req, 'x-tenant-id') ?? null,
      user: header(req, 'x-user-id') ?? null,
      features: header(req, FEATURES_HEADER) ?? null,
    });
  },
} satisfies KindHandler;
