#!/usr/bin/env node
/**
 * The reference for "the limit a Node gateway can reach here": a node:http server that forwards
 * every request to one upstream through an undici Pool (`dispatch` with a handler object, so bodies
 * and SSE pass through unbuffered, with backpressure) — no routing, no policies, nothing else.
 *
 *   node bench/dist/bare-proxy.js --upstream http://127.0.0.1:9000 [--listen 127.0.0.1:0] [--connections N]
 *
 * Prints `{"url":"http://127.0.0.1:PORT"}` on stdout once listening; stops on SIGINT/SIGTERM.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

import { Pool } from 'undici';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and host: never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function endToEnd(headers: IncomingMessage['headers'] | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key in headers) {
    const value = headers[key];
    if (value !== undefined && !HOP_BY_HOP.has(key)) out[key] = value;
  }
  return out;
}

export interface BareProxy {
  readonly url: string;
  close(): Promise<void>;
}

export async function startBareProxy(opts: { upstream: string; host?: string; port?: number; connections?: number }): Promise<BareProxy> {
  const pool = new Pool(new URL(opts.upstream).origin, { connections: opts.connections ?? null, pipelining: 1, keepAliveTimeout: 60_000 });

  // undici's dispatch API with a handler object: the lightest way to stream an exchange through
  // (the gateway forwards the same way), with backpressure and nothing else.
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? 'GET';
    const hasBody = method !== 'GET' && method !== 'HEAD';
    let paused = false;
    pool.dispatch(
      { path: req.url ?? '/', method: method as 'GET', headers: endToEnd(req.headers), body: hasBody ? req : null },
      {
        onRequestStart() {}, // marks the handler as undici's new handler API
        onResponseStart(_controller, statusCode, headers) {
          if (statusCode >= 200) res.writeHead(statusCode, endToEnd(headers));
        },
        onResponseData(controller, chunk) {
          if (!res.write(chunk) && !paused) {
            paused = true;
            controller.pause();
            res.once('drain', () => {
              paused = false;
              controller.resume();
            });
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError() {
          if (!res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain' });
            res.end('bad gateway\n');
          } else res.destroy();
        },
      },
    );
  };

  const server: Server = createServer(onRequest);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: opts.port ?? 0 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await pool.close();
    },
  };
}

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: readonly string[]): Promise<void> {
  const upstream = flag(argv, '--upstream');
  if (upstream === undefined) {
    process.stderr.write('usage: bare-proxy --upstream URL [--listen HOST:PORT] [--connections N]\n');
    process.exit(2);
  }
  const listen = flag(argv, '--listen') ?? '127.0.0.1:0';
  const colon = listen.lastIndexOf(':');
  const connections = flag(argv, '--connections');
  const proxy = await startBareProxy({
    upstream,
    host: listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
    port: Number(listen.slice(colon + 1)),
    ...(connections === undefined ? {} : { connections: Number(connections) }),
  });
  process.stdout.write(`${JSON.stringify({ url: proxy.url })}\n`);
  const stop = (): void => {
    void proxy.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
