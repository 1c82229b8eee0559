/**
 * Hostile clients against a real gateway process (standalone, loopback): each case checks the
 * answer, that the gateway keeps serving other traffic within a bound, and that its memory stays
 * bounded. Request-path cases: slow bodies, the buffered-body budget, Expect: 100-continue,
 * forged forwarding and identity headers, duplicate Host, dot-segments in paths, LLM bodies under
 * another content type or nested too deep, Redis down with fail-closed and fail-open routes; and
 * the ones that held before: malformed requests, smuggling, oversized headers, slowloris.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clock, sleep } from '../src/clock.js';
import { freePort } from '../src/envtest/ports.js';
import { startGateway, type GatewayProcess } from '../src/gateway.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An upstream that records what reached it and answers 200 with JSON of it. */
async function recordingUpstream() {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      res.writeHead(200, { 'content-type': 'application/json' });
      // No `usage`: an LLM answer without it keeps the estimate the gateway reserved (what the LLM tests count).
      res.end(JSON.stringify({ url: s.url, bytes: s.body.length }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let gw: GatewayProcess;
const dirs: string[] = [];

function manifests(upstreamPort: number): string {
  const route = (name: string, path: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: h }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: ${path} } }], backendRefs: [{ name: upstream, port: 80 }] }]
`;
  const limit = (name: string, target: string, spec: string) => `apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: ${name}, namespace: h }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${target} }]
${spec}`;
  return [
    `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: h }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: Same } } }]
`,
    `apiVersion: v1
kind: Service
metadata: { name: upstream, namespace: h }
spec: { ports: [{ name: http, port: 80 }] }
`,
    `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: upstream-1, namespace: h, labels: { kubernetes.io/service-name: upstream } }
addressType: FQDN
ports: [{ name: http, port: ${upstreamPort} }]
endpoints: [{ addresses: [upstream.localhost] }]
`,
    route('api', '/api'),
    route('llm', '/v1'),
    route('closed', '/closed'),
    route('open', '/open'),
    limit(
      'llm-tokens',
      'llm',
      `  limits: [{ name: tokens, scope: ClientIP, algorithm: FixedWindow, rate: { requests: 100, per: 1h }, cost: { llmTokens: Input } }]
  store: Memory
`,
    ),
    limit(
      'closed-limits',
      'closed',
      `  limits: [{ name: per-ip, scope: ClientIP, algorithm: FixedWindow, rate: { requests: 1000, per: 1h } }]
  store: Redis
  failureMode: { mode: Closed, timeout: 50ms }
`,
    ),
    limit(
      'open-limits',
      'open',
      `  limits: [{ name: per-ip, scope: ClientIP, algorithm: FixedWindow, rate: { requests: 1000, per: 1h } }]
  store: Redis
  failureMode: { mode: Open, timeout: 50ms }
`,
    ),
  ].join('---\n');
}

/** A normal request's time to answer, ms; it must be 200. */
async function timedOk(path = '/api/ok'): Promise<number> {
  const t0 = clock.now();
  const res = await fetch(`${gw.url}${path}`);
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return clock.now() - t0;
}

/** The gateway's resident memory, MB (its own process metric). */
async function rssMb(): Promise<number> {
  return ((await gw.metric('jarvis_gateway_process_resident_memory_bytes')) ?? 0) / 1e6;
}

/** Sends raw bytes and returns what came back until the server closes or `ms` passes. */
function raw(bytes: string, ms = 3000, localAddress?: string): Promise<string> {
  const url = new URL(gw.url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port), ...(localAddress ? { localAddress } : {}) });
    let out = '';
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

beforeAll(async () => {
  upstream = await recordingUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-hostile-'));
  dirs.push(dir);
  const closedRedis = await freePort(); // nothing listens there: Redis is down from the start
  writeFileSync(join(dir, 'platform.yaml'), manifests(upstream.port));
  const identity = join(mkdtempSync(join(tmpdir(), 'jarvis-hostile-id-')), 'identity.yaml');
  dirs.push(join(identity, '..'));
  writeFileSync(identity, 'trustedProxies: [127.0.0.2/32]\ntrustedHeaders: { tenant: x-org, user: x-user-id }\n');
  gw = await startGateway({
    name: 'hostile',
    args: [
      '--config',
      dir,
      '--identity',
      identity,
      '--redis',
      `redis://127.0.0.1:${closedRedis}`,
      '--request-body-timeout',
      '3s',
      '--max-buffered-bytes',
      String(6 * 1024 * 1024),
      '--inspect-body-bytes',
      String(4 * 1024 * 1024),
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('slow and large bodies', () => {
  it('500 connections trickling bodies hold no upstream connection: other requests stay fast, the tricklers get 408', async () => {
    const before: number[] = [];
    for (let i = 0; i < 20; i++) before.push(await timedOk());
    const url = new URL(gw.url);
    const upstreamSeenBefore = upstream.seen.length;
    const sockets: net.Socket[] = [];
    const answers: string[] = [];
    for (let i = 0; i < 500; i++) {
      const s = net.connect({ host: url.hostname, port: Number(url.port) });
      s.on('error', () => undefined);
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString('latin1')));
      s.on('close', () => answers.push(out));
      s.write(`POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\na`);
      sockets.push(s);
    }
    // One more byte per second from each while normal requests go on.
    const drip = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write('b');
    }, 1000);
    // Let the burst of 500 arriving requests settle (accepting them is not what is measured: their trickling is).
    await expect.poll(() => gw.metric('jarvis_gateway_in_flight_requests'), { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(500);
    const during: number[] = [];
    const t0 = clock.now();
    while (clock.now() - t0 < 2000) during.push(await timedOk());
    clearInterval(drip);
    const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.99) - 1] ?? Infinity;
    console.log(`[figures] with 500 trickling bodies: p99 ${p99(during)} ms (before: ${p99(before)} ms) over ${during.length} requests`);
    expect(p99(during) - p99(before)).toBeLessThan(100);
    expect(upstream.seen.length - upstreamSeenBefore).toBe(during.length); // no trickling body reached the upstream
    // --request-body-timeout is 3 s: every trickler is answered 408 and closed.
    await expect.poll(() => answers.length, { timeout: 15_000, interval: 100 }).toBe(500);
    expect(answers.every((a) => statusOf(a) === 408)).toBe(true);
    expect(await rssMb()).toBeLessThan(400);
    expect(await timedOk()).toBeLessThan(1000);
  });

  it('the buffered-body budget: when full, requests with bodies get 503 with Retry-After; the rest is served', async () => {
    // A 6 MiB budget; six slow clients each declare 1 MB and send 900 kB of it, then stall.
    const url = new URL(gw.url);
    const holders: net.Socket[] = [];
    for (let i = 0; i < 6; i++) {
      const s = net.connect({ host: url.hostname, port: Number(url.port) });
      s.on('error', () => undefined);
      s.write(`POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n${'c'.repeat(900_000)}`);
      holders.push(s);
    }
    await sleep(500);
    const res = await fetch(`${gw.url}/api/upload`, { method: 'POST', body: 'd'.repeat(900_000) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await timedOk()).toBeLessThan(1000); // bodiless traffic is not affected
    for (const s of holders) s.destroy();
    // Released when those exchanges end.
    await expect
      .poll(
        async () => {
          const r = await fetch(`${gw.url}/api/upload`, { method: 'POST', body: 'e'.repeat(900_000) });
          await r.arrayBuffer();
          return r.status;
        },
        { timeout: 5000, interval: 100 },
      )
      .toBe(200);
  });

  it('Expect: 100-continue uploads work: the gateway sends 100, forwards the body, never the Expect header', async () => {
    const body = 'f'.repeat(50_000);
    const url = new URL(gw.url);
    const result = await new Promise<{ status: number; continued: boolean; text: string }>((resolve, reject) => {
      let continued = false;
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: 'PUT',
          path: '/api/put',
          headers: { expect: '100-continue', 'content-length': body.length },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, continued, text }));
        },
      );
      req.on('continue', () => {
        continued = true;
        req.end(body);
      });
      req.on('error', reject);
    });
    expect(result).toMatchObject({ status: 200, continued: true });
    expect(JSON.parse(result.text)).toMatchObject({ bytes: body.length });
    const seen = upstream.seen.find((s) => s.url === '/api/put');
    expect(seen?.headers['expect']).toBeUndefined();
  });
});

describe('headers a client must not control', () => {
  it('from an untrusted client: forged forwarding and identity headers never reach the upstream; X-Forwarded-For is the peer', async () => {
    const res = await fetch(`${gw.url}/api/whoami-1`, {
      headers: {
        'x-forwarded-for': '6.6.6.6',
        forwarded: 'for=6.6.6.6',
        'x-real-ip': '6.6.6.6',
        'x-org': 'spoofed-org',
        'x-tenant-id': 'spoofed',
      },
    });
    expect(res.status).toBe(200);
    const h = upstream.seen.find((s) => s.url === '/api/whoami-1')?.headers ?? {};
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['forwarded']).toBeUndefined();
    expect(h['x-real-ip']).toBeUndefined();
    expect(h['x-org']).toBeUndefined();
    expect(h['x-tenant-id']).toBeUndefined();
  });

  it('from a trusted proxy: its chain is kept and its own hop appended; its identity header becomes x-tenant-id', async () => {
    const answer = await raw(
      'GET /api/whoami-2 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.5\r\nx-org: acme\r\nConnection: close\r\n\r\n',
      3000,
      '127.0.0.2',
    );
    expect(statusOf(answer)).toBe(200);
    const h = upstream.seen.find((s) => s.url === '/api/whoami-2')?.headers ?? {};
    expect(h['x-forwarded-for']).toBe('203.0.113.5, 127.0.0.2');
    expect(h['x-tenant-id']).toBe('acme');
    expect(h['x-org']).toBeUndefined();
  });

  it('two Host headers: 400', async () => {
    const answer = await raw('GET /api/x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
    expect(statusOf(answer)).toBe(400);
    expect(answer).toContain('application/problem+json');
    expect(await timedOk()).toBeLessThan(1000);
  });

  it('dot-segments and encoded dot-segments are resolved before matching, and the upstream gets the normal path', async () => {
    for (const [path, expected] of [
      ['/probe/../api/dots-1', '/api/dots-1'],
      ['/probe/%2e%2e/api/dots-2?q=1', '/api/dots-2?q=1'],
      ['/api/./x/../dots-3', '/api/dots-3'],
    ] as const) {
      const answer = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(statusOf(answer), path).toBe(200);
      expect(upstream.seen.some((s) => s.url === expected)).toBe(true);
    }
    expect(statusOf(await raw('GET /api/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))).toBe(400);
  });
});

describe('LLM bodies', () => {
  const prompt = (chars: number) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'p'.repeat(chars) }] });

  it('are costed whatever the Content-Type says: a text/plain JSON body pays its tokens', async () => {
    // 100 tokens per hour for this client; 4 characters per token: 240 characters cost 60.
    const first = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: prompt(240),
    });
    expect(first.status).toBe(200);
    const second = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', body: prompt(240) }); // no content type at all
    expect(second.status).toBe(429);
  });

  it('a body that is not JSON is refused (415) instead of costing 1; malformed JSON sent as JSON gets 400', async () => {
    const form = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'model=m&prompt=hello',
    });
    expect(form.status).toBe(415);
    const broken = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model":',
    });
    expect(broken.status).toBe(400);
  });

  it('JSON nested 10^5 deep or 4 MB of nesting is refused in milliseconds, and the gateway keeps serving', async () => {
    for (const body of ['['.repeat(100_000) + ']'.repeat(100_000), '{"a":'.repeat(650_000) + '1' + '}'.repeat(650_000)]) {
      const t0 = clock.now();
      const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toContain('nested deeper');
      expect(clock.now() - t0).toBeLessThan(2000);
      expect(await timedOk()).toBeLessThan(1000);
    }
  });
});

describe('Redis down', () => {
  it('readiness stays 200; the fail-closed route answers 503 itself, the fail-open route 200', async () => {
    expect((await fetch(`${gw.adminUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${gw.url}/closed/x`)).status).toBe(503);
    expect((await fetch(`${gw.url}/open/x`)).status).toBe(200);
  });
});

describe('what held before still holds', () => {
  it('malformed request lines and headers: 400, the connection closed; smuggling (Content-Length with Transfer-Encoding): 400', async () => {
    expect(statusOf(await raw('GARBAGE\r\n\r\n'))).toBe(400);
    expect(statusOf(await raw('GET /api/x HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'))).toBe(400);
    expect(
      statusOf(
        await raw(
          'POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
        ),
      ),
    ).toBe(400);
    expect(upstream.seen.some((s) => s.url === '/api/smuggled')).toBe(false);
    expect(await timedOk()).toBeLessThan(1000);
  });

  it('oversized headers: 431', async () => {
    expect(statusOf(await raw(`GET /api/x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`))).toBe(431);
  });

  it('slowloris (headers that never finish) does not keep others waiting', async () => {
    const url = new URL(gw.url);
    const sockets = Array.from({ length: 200 }, () => {
      const s = net.connect({ host: url.hostname, port: Number(url.port) });
      s.on('error', () => undefined);
      s.write('GET /api/x HTTP/1.1\r\nHost: x\r\nX-A: ');
      return s;
    });
    for (let i = 0; i < 10; i++) expect(await timedOk()).toBeLessThan(1000);
    for (const s of sockets) s.destroy();
  });
});
