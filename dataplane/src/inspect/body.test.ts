import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import { readBody, type BodyRead } from './body.js';
import { BodyBudget } from './budget.js';

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
    void readBody(req, { limit, overflow: 'refuse', timeoutMs: 60_000, timers: new ManualTime(0), budget: new BodyBudget(1 << 20) }).then(
      (r) => {
        reads.push(r);
        res.end(r.ok === true ? `ok ${r.body.length}` : r.ok === false ? r.reason : 'partial');
      },
    );
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
    await expect.poll(() => reads.length, { timeout: 15_000 }).toBe(2);
    expect(reads[1]).toEqual({ ok: false, reason: 'too-large', reserved: 0 });
  });

  it('hands back the part read so far when the caller streams larger bodies, paused for the rest', async () => {
    const budget = new BodyBudget(1 << 20);
    const s = http.createServer((req, res) => {
      void readBody(req, { limit: 100, overflow: 'stream', timeoutMs: 60_000, timers: new ManualTime(0), budget }).then((r) => {
        if (r.ok !== 'partial') return res.end(`not partial: ${JSON.stringify(r)}`);
        const head = Buffer.concat(r.prefix).length;
        let rest = 0;
        req.on('data', (c: Buffer) => (rest += c.length));
        req.resume();
        req.on('end', () => res.end(`${head >= 100 ? 'prefix ok' : `prefix ${head}`}, total ${head + rest}, reserved ${r.reserved}`));
      });
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    const text = await (await fetch(url, { method: 'POST', body: 'y'.repeat(5000) })).text();
    expect(text).toMatch(/^prefix ok, total 5000, reserved \d+$/);
  });

  it('gives up on a body that does not arrive in time (injected timers), and releases what it held', async () => {
    const time = new ManualTime(0);
    const budget = new BodyBudget(1 << 20);
    let result: BodyRead | undefined;
    let arrived: () => void = () => {};
    const started = new Promise<void>((r) => (arrived = r));
    const s = http.createServer((req, res) => {
      req.once('data', () => arrived());
      void readBody(req, { limit: 1000, overflow: 'refuse', timeoutMs: 30_000, timers: time, budget }).then((r) => {
        result = r;
        res.end();
      });
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as AddressInfo).port;
    const client = http.request({ port, method: 'POST', headers: { 'content-length': '500' } });
    client.on('error', () => undefined);
    client.write('z'.repeat(10)); // and nothing more
    await started;
    expect(budget.used).toBe(10);
    time.advance(29_999);
    expect(result).toBeUndefined();
    time.advance(1);
    await expect.poll(() => result).toEqual({ ok: false, reason: 'timeout', reserved: 0 });
    expect(budget.used).toBe(0);
    client.destroy();
  });

  it('refuses a body when the gateway-wide budget is full', async () => {
    const budget = new BodyBudget(50);
    expect(budget.tryReserve(40)).toBe(true);
    const s = http.createServer((req, res) => {
      void readBody(req, { limit: 1000, overflow: 'refuse', timeoutMs: 60_000, timers: new ManualTime(0), budget }).then((r) =>
        res.end(r.ok === false ? r.reason : 'read'),
      );
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    expect(await (await fetch(url, { method: 'POST', body: 'x'.repeat(20) })).text()).toBe('busy');
    expect(budget.used).toBe(40); // nothing of the refused body is held
    expect(await (await fetch(url, { method: 'POST', body: 'x'.repeat(10) })).text()).toBe('read');
  });
});
