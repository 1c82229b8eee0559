import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { forward, upstreamHeaders } from './forward.js';

const servers: http.Server[] = [];
const pools: Pool[] = [];

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** A proxy in front of `upstreamPort`, using forward() the way the pipeline does. */
async function proxy(upstreamPort: number, options = { maxBodyBytes: 1024, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 }) {
  const pool = new Pool(`http://127.0.0.1:${upstreamPort}`);
  pools.push(pool);
  const results: unknown[] = [];
  const port = await listen((req, res) => {
    forward(req, res, pool, req.url ?? '/', upstreamHeaders(req.headers, '10.0.0.1'), options, undefined, undefined, (r) =>
      results.push(r),
    );
  });
  return { url: `http://127.0.0.1:${port}`, results };
}

afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('forward', () => {
  it('streams SSE chunks to the client as the upstream produces them', async () => {
    let release: () => void = () => {};
    const upstreamPort = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      release = () => res.end('data: [DONE]\n\n');
    });
    const { url } = await proxy(upstreamPort);
    const res = await fetch(`${url}/v1/chat/completions`);
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(new TextDecoder().decode(first?.value)).toBe('data: first\n\n'); // arrived before the upstream finished
    release();
    const rest = await reader?.read();
    expect(new TextDecoder().decode(rest?.value)).toBe('data: [DONE]\n\n');
  });

  it('aborts the upstream call when the client goes away', async () => {
    let upstreamClosed: () => void = () => {};
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    const upstreamPort = await listen((req, res) => {
      res.writeHead(200);
      res.write('partial');
      req.socket.on('close', () => upstreamClosed());
    });
    const { url } = await proxy(upstreamPort);
    const controller = new AbortController();
    const res = await fetch(`${url}/slow`, { signal: controller.signal });
    await res.body?.getReader().read();
    controller.abort();
    await closed; // the test times out if the upstream connection is left open
  });

  it('aborts the upstream call when the client goes away before the upstream answered', async () => {
    let upstreamClosed: () => void = () => {};
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    let arrived: () => void = () => {};
    const reached = new Promise<void>((r) => (arrived = r));
    const upstreamPort = await listen((req) => {
      req.socket.on('close', () => upstreamClosed());
      arrived(); // and never answers
    });
    const { url, results } = await proxy(upstreamPort);
    const controller = new AbortController();
    const pending = fetch(`${url}/think`, { signal: controller.signal }).catch(() => undefined);
    await reached;
    controller.abort();
    await pending;
    await closed; // the test times out if the upstream connection is left open
    await expect.poll(() => results).toEqual([{ status: 499, error: 'client-gone' }]);
  });

  it('holds the upstream back while the client does not read, then delivers every byte', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const chunks = 512; // 32 MiB: far more than the socket buffers on both hops hold
    let written = 0;
    let blocked: () => void = () => {};
    const firstBlock = new Promise<void>((r) => (blocked = r));
    const upstreamPort = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = (): void => {
        while (written < chunks) {
          written++;
          if (!res.write(chunk)) {
            blocked();
            return void res.once('drain', pump);
          }
        }
        res.end();
      };
      pump();
    });
    const { url, results } = await proxy(upstreamPort);
    const response = await new Promise<http.IncomingMessage>((resolve) => http.get(`${url}/big`, resolve));
    response.pause(); // a client that reads nothing for now
    await firstBlock;
    await new Promise((r) => setTimeout(r, 200)); // without backpressure the proxy would drain the upstream meanwhile
    expect(written).toBeLessThan(chunks / 2);
    let received = 0;
    response.on('data', (c: Buffer) => (received += c.length));
    response.resume();
    await new Promise((r) => response.on('end', r));
    expect(received).toBe(chunk.length * chunks);
    await expect.poll(() => results).toEqual([{ status: 200 }]);
  });

  it('answers 504 problem+json when the upstream does not answer in time', async () => {
    const upstreamPort = await listen(() => {});
    const { url } = await proxy(upstreamPort, { maxBodyBytes: 1024, headersTimeoutMs: 200, bodyTimeoutMs: 200 });
    const res = await fetch(`${url}/hang`);
    expect(res.status).toBe(504);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers 502 when the upstream refuses connections', async () => {
    const { url } = await proxy(1);
    expect((await fetch(`${url}/x`)).status).toBe(502);
  });

  it('keeps hop-by-hop headers on their hop and appends the client to X-Forwarded-For', () => {
    const out = upstreamHeaders(
      {
        connection: 'keep-alive, x-secret',
        'keep-alive': 'timeout=5',
        'x-secret': 's',
        te: 'trailers',
        'x-forwarded-for': '1.2.3.4',
        accept: 'text/plain',
        'x-user-id': 'spoofed',
        'x-tenant-id': 'spoofed',
      },
      '10.0.0.1',
      'acme',
    );
    expect(out).toEqual({ 'x-forwarded-for': '1.2.3.4, 10.0.0.1', accept: 'text/plain', 'x-tenant-id': 'acme' });
  });
});
