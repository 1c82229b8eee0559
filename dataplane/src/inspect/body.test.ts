import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readBody, type BodyRead } from './body.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A server that reads each body with `limit` and answers what it got. */
async function server(limit: number): Promise<{ url: string; reads: BodyRead[] }> {
  const reads: BodyRead[] = [];
  const s = http.createServer((req, res) => {
    void readBody(req, limit).then((r) => {
      reads.push(r);
      res.end(r.ok ? `ok ${r.body.length}` : r.reason);
    });
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, reads };
}

describe('readBody', () => {
  it('reads a body within the limit, declared or chunked', async () => {
    const { url } = await server(100);
    expect(await (await fetch(url, { method: 'POST', body: 'x'.repeat(100) })).text()).toBe('ok 100');
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('a'.repeat(30)));
        c.enqueue(new TextEncoder().encode('b'.repeat(30)));
        c.close();
      },
    });
    const res = await fetch(url, { method: 'POST', body: chunked, duplex: 'half' } as RequestInit);
    expect(await res.text()).toBe('ok 60');
  });

  it('refuses a body over the limit, whether it says so up front or not', async () => {
    const { url, reads } = await server(100);
    expect(await (await fetch(url, { method: 'POST', body: 'x'.repeat(101) })).text()).toBe('too-large');
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(64));
      },
    });
    // The client may see its upload cut off; the reader must have stopped at the limit either way.
    void fetch(url, { method: 'POST', body: endless, duplex: 'half' } as RequestInit)
      .then((r) => r.text())
      .catch(() => undefined);
    await expect.poll(() => reads.length).toBe(2);
    expect(reads[1]).toEqual({ ok: false, reason: 'too-large' });
  });
});
