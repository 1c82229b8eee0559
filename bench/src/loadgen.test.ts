import { afterEach, describe, expect, it } from 'vitest';

import { type RunningMock, startMock } from '@jarvis/mocks';

import { parseLoadArgs, runClosedLoop, runOpenLoop } from './loadgen.js';
import { percentile, summarize } from './stats.js';

const mocks: RunningMock[] = [];
afterEach(async () => {
  await Promise.all(mocks.splice(0).map((m) => m.close()));
});

async function upstream(def: Partial<Parameters<typeof startMock>[0]> = {}): Promise<RunningMock> {
  const m = await startMock({ name: 'up', kind: 'trivial', ...def });
  mocks.push(m);
  return m;
}

describe('open loop', () => {
  it('sends on schedule: every request of the window, at the rate, on time', async () => {
    const m = await upstream();
    const r = await runOpenLoop({ url: `${m.url}/`, rate: 400, durationS: 1, warmupS: 0.25, connections: 4 });
    expect(r.sent).toBe(400);
    expect(r.total_requests).toBe(500);
    expect(r.completed).toBe(400);
    expect(r.status).toEqual({ '200': 400 });
    expect(m.stats().requests).toBe(500);
    // Never faster than the schedule; how much slower depends on the machine's load, which this
    // test does not control (the benchmark reports the send lag it measured).
    expect(r.achieved_rps).toBeGreaterThan(0);
    expect(r.achieved_rps).toBeLessThanOrEqual(400);
    expect(r.send_lag_ms?.p50).toBeGreaterThanOrEqual(0);
    expect(r.send_lag_ms?.max).toBeGreaterThanOrEqual(r.send_lag_ms?.p50 ?? 0);
    expect(r.latency_ms.p50).toBeGreaterThan(0);
  });

  it('charges queueing to latency from the scheduled time (no coordinated omission)', async () => {
    // One connection to an upstream that takes 20 ms: 100 requests/s need 2 s of service per
    // second, so the queue grows. A closed loop would report ~20 ms for every request.
    const m = await upstream({ latencyMs: 20 });
    const r = await runOpenLoop({ url: `${m.url}/`, rate: 100, durationS: 0.5, warmupS: 0, connections: 1, drainTimeoutMs: 5_000 });
    expect(r.completed).toBe(50);
    expect(r.latency_ms.p50).toBeGreaterThan(200);
    expect(r.latency_ms.max).toBeGreaterThan(400);
    const closed = await runClosedLoop({ url: `${m.url}/`, durationS: 0.5, warmupS: 0, connections: 1 });
    expect(closed.latency_ms.p50).toBeLessThan(60);
  });

  it('counts failures by status and error code', async () => {
    const m = await upstream({ errorRate: 1, errorStatuses: [503] });
    const r = await runOpenLoop({ url: `${m.url}/`, rate: 100, durationS: 0.2, warmupS: 0, connections: 2 });
    expect(r.status).toEqual({ '503': 20 });
    const gone = await runOpenLoop({ url: 'http://127.0.0.1:9/', rate: 100, durationS: 0.1, warmupS: 0, connections: 1 });
    expect(gone.completed).toBe(0);
    expect(Object.values(gone.errors).reduce((a, b) => a + b, 0)).toBe(10);
  });
});

describe('closed loop', () => {
  it('measures saturation throughput over the window', async () => {
    const m = await upstream();
    const r = await runClosedLoop({ url: `${m.url}/`, durationS: 0.5, warmupS: 0.1, connections: 4 });
    expect(r.completed).toBeGreaterThan(100);
    expect(r.achieved_rps).toBeCloseTo(r.completed / 0.5, 0);
    expect(r.status['200']).toBe(r.completed);
  });
});

describe('CPU window (--cpu-pid)', () => {
  it('reads the target process over the measured window and counts the requests that ended in it', async () => {
    // The mock serves from this process: its CPU is read.
    const m = await upstream();
    const r = await runClosedLoop({ url: `${m.url}/`, durationS: 0.5, warmupS: 0.2, connections: 4, cpuPid: process.pid });
    expect(r.cpu).not.toBeNull();
    const cpu = r.cpu ?? { pid: 0, us: 0, requests: 0, window_s: 0 };
    expect(cpu.pid).toBe(process.pid);
    expect(cpu.us).toBeGreaterThan(0);
    // The window is the measured half second (its readings start on timers), not the whole run.
    expect(cpu.window_s).toBeGreaterThanOrEqual(0.45);
    expect(cpu.window_s).toBeLessThan(0.5 + 0.2);
    // Its requests are those of the measured window, not the warm-up's as well.
    expect(cpu.requests).toBeGreaterThan(0);
    expect(cpu.requests).toBeLessThan(r.total_requests);
    expect(Math.abs(cpu.requests - r.completed)).toBeLessThanOrEqual(r.completed * 0.25);
    // Without the flag: no window.
    const plain = await runClosedLoop({ url: `${m.url}/`, durationS: 0.2, warmupS: 0, connections: 2 });
    expect(plain.cpu).toBeNull();
  });

  it('has the open loop read it from the start of the window to the last send', async () => {
    const m = await upstream();
    const r = await runOpenLoop({ url: `${m.url}/`, rate: 400, durationS: 0.5, warmupS: 0.25, connections: 4, cpuPid: process.pid });
    expect(r.cpu?.pid).toBe(process.pid);
    // 200 requests are sent in the window; those ending while it is open are counted.
    expect(r.cpu?.requests).toBeGreaterThan(100);
    expect(r.cpu?.requests).toBeLessThanOrEqual(201);
  });
});

describe('arguments and statistics', () => {
  it('parses the command line', () => {
    const p = parseLoadArgs([
      '--url',
      'http://x/',
      '--mode',
      'open',
      '--rate',
      '250',
      '--header',
      'x-user-id: u1',
      '--body',
      '{}',
      '--method',
      'POST',
    ]);
    expect(p.mode).toBe('open');
    expect(p.options).toMatchObject({ rate: 250, headers: { 'x-user-id': 'u1' }, body: '{}', method: 'POST' });
    expect(parseLoadArgs(['--url', 'http://x/', '--mode', 'closed', '--cpu-pid', '4242']).options.cpuPid).toBe(4242);
    expect(parseLoadArgs(['--url', 'http://x/']).options.cpuPid).toBeUndefined();
    for (const bad of ['0', '-3', '12x', '1.5', ''])
      expect(() => parseLoadArgs(['--url', 'http://x/', '--cpu-pid', bad])).toThrow(/--cpu-pid must be a process id/);
    expect(() => parseLoadArgs(['--url', 'http://x/', '--bogus', '1'])).toThrow(/unknown flag/);
    expect(() => parseLoadArgs(['--url', 'http://x/', '--mode', 'both'])).toThrow(/open or closed/);
  });

  it('takes nearest-rank percentiles with microsecond resolution', () => {
    const micros = Float64Array.from({ length: 1000 }, (_, i) => i + 1); // 1 µs .. 1000 µs
    expect(percentile(Float64Array.from(micros).sort(), 0.5)).toBe(500);
    const s = summarize(micros);
    expect(s).toMatchObject({ count: 1000, p50: 0.5, p90: 0.9, p99: 0.99, max: 1 });
    expect(summarize(new Float64Array(0)).p50).toBeNull();
  });
});
