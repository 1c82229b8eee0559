/** The benchmark's upstream: `200 ok` to any request, with as little work as possible. */
import type { KindHandler } from '../context.js';

const BODY = Buffer.from('ok\n');

export const trivialKind = {
  readsBody: false,
  handle(ctx, { res }) {
    ctx.count(200);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length, 'x-mock-name': ctx.def.name });
    res.end(BODY);
  },
} satisfies KindHandler;
