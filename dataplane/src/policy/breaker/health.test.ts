/** Health-check loops on a hand-driven clock, and the real probes against real sockets. */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { ActiveHealthCheckIR } from '@jarvis/api';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { HealthLoop, createProber, type Prober } from './health.js';

const HTTP: ActiveHealthCheckIR = {
  type: 'HTTP',
  intervalMs: 1_000,
  timeoutMs: 200,
  unhealthyThreshold: 2,
  healthyThreshold: 2,
  http: { path: '/healthz', method: 'GET', expectedStatuses: [200, 204] },
};

/** A prober that answers after `delayMs` of manual time with `passed`. */
function fakeProber(time: ManualTime, passed = true, delayMs = 10) {
  const starts: number[] = [];
  const prober: Prober = {
    probe(_origin, _ir, done) {
      starts.push(time.now());
      time.after(delayMs, () => done(passed));
    },
    close: async () => {},
  };
  return { prober, starts };
}

describe('health loop', () => {
  it('probes first at a random point of the first interval, then at most an interval apart, jittered', () => {
    const time = new ManualTime(0);
    const { prober, starts } = fakeProber(time);
    const randoms = [0.3, 0.5, 1, 0];
    let i = 0;
    const results: boolean[] = [];
    const loop = new HealthLoop(
      'http://127.0.0.1:1',
      HTTP,
      { clock: time, timers: time, random: () => randoms[i++ % 4] ?? 0, prober },
      (p) => results.push(p),
    );
    loop.start();
    time.advance(5_000);
    // first at 0.3 × 1000; then interval × (1 − 0.1 r) after each start: 950 (r .5), 900 (r 1), 1000 (r 0), 970 (r .3)…
    expect(starts.slice(0, 5)).toEqual([300, 1_250, 2_150, 3_150, 4_120]);
    expect(results.length).toBe(starts.length);
    for (let k = 1; k < starts.length; k++) expect((starts[k] ?? 0) - (starts[k - 1] ?? 0)).toBeLessThanOrEqual(HTTP.intervalMs);
  });

  it('stops: no further probe, and the result of one in flight is dropped', () => {
    const time = new ManualTime(0);
    const { prober, starts } = fakeProber(time, true, 100);
    const results: boolean[] = [];
    const loop = new HealthLoop('http://127.0.0.1:1', HTTP, { clock: time, timers: time, random: () => 0, prober }, (p) => results.push(p));
    loop.start();
    time.advance(50); // the first probe (at 0) is in flight
    loop.stop();
    time.advance(10_000);
    expect(starts).toEqual([0]);
    expect(results).toEqual([]);
    expect(loop.running).toBe(false);
  });
});

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function httpServer(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push({ close: () => (server.closeAllConnections(), server.close()) });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function probeOnce(prober: Prober, origin: string, ir: ActiveHealthCheckIR): Promise<boolean> {
  return new Promise((resolve) => prober.probe(origin, ir, resolve));
}

describe('probes on real sockets', () => {
  it('HTTP passes on an expected status of the path, fails on another', async () => {
    const time = new ManualTime(0);
    const prober = createProber({ timers: time });
    const seen: string[] = [];
    let status = 204;
    const origin = await httpServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(status).end();
    });
    expect(await probeOnce(prober, origin, HTTP)).toBe(true);
    status = 503;
    expect(await probeOnce(prober, origin, HTTP)).toBe(false);
    expect(seen).toEqual(['GET /healthz', 'GET /healthz']);
    await prober.close();
  });

  it('HTTP fails when nothing answers within the timeout, and on a refused connection', async () => {
    const time = new ManualTime(0);
    const prober = createProber({ timers: time });
    let arrived: () => void = () => {};
    const reached = new Promise<void>((r) => (arrived = r));
    const origin = await httpServer(() => arrived()); // never answers
    const pending = probeOnce(prober, origin, HTTP);
    await reached;
    time.advance(HTTP.timeoutMs);
    expect(await pending).toBe(false);
    const closed = await httpServer(() => {});
    servers.pop()?.close();
    expect(await probeOnce(prober, closed, HTTP)).toBe(false);
    await prober.close();
  });

  it('TCP passes when a connection is accepted, fails when refused', async () => {
    const time = new ManualTime(0);
    const prober = createProber({ timers: time });
    const server = net.createServer((s) => s.destroy());
    servers.push({ close: () => server.close() });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const tcp: ActiveHealthCheckIR = { ...HTTP, type: 'TCP' };
    expect(await probeOnce(prober, `http://127.0.0.1:${port}`, tcp)).toBe(true);
    // Closed once its listening socket is (the probe's own connection has ended).
    await new Promise<void>((r) => server.close(() => r()));
    expect(await probeOnce(prober, `http://127.0.0.1:${port}`, tcp)).toBe(false);
    await prober.close();
  });
});
