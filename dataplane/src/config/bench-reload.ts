/**
 * How long a reload of a large `--config` folder holds up the request path's thread. Not a test:
 * prints figures. For a folder of MB megabytes (HTTPRoutes with a RateLimitPolicy each, see
 * @jarvis/e2e bulk-config), each round loads and compiles it twice while perf_hooks'
 * monitorEventLoopDelay watches this thread:
 *
 * - before: read, parse and translate on this thread (ConfigLoader), then compile;
 * - after:  the same load on the loader's worker thread (WorkerLoader, unpacked in slices), then compile.
 *
 *     npm run build && node dataplane/dist/config/bench-reload.js [MB=10] [rounds=3]
 *
 * Prints one JSON line: per variant the longest stall of each round and their median (ms), the
 * compile's share (it runs on this thread in both), and `stall_ratio` = after / before.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { bulkRoutes } from '@jarvis/e2e/dist/bulk-config.js';
import { monotonicClock, systemClock, systemTimers } from '../clock.js';
import { BodyBudget } from '../inspect/budget.js';
import { compileGatewaySliced, type CompileDeps } from '../pipeline/compile.js';
import { BackendGuardRegistry, NO_EVENTS, createProber } from '../policy/breaker/index.js';
import { CacheRegistry } from '../policy/cache/index.js';
import { IdentityHolder, anonymousIdentity } from '../identify/index.js';
import { HotspotRegistry } from '../policy/hotspot/index.js';
import { createMemoryStore } from '../policy/ratelimit/index.js';
import { Upstreams } from '../proxy/upstreams.js';
import { ConfigLoader, type LoadResult } from './load.js';
import type { GatewayConfig } from './types.js';
import { WorkerLoader } from './worker-loader.js';

const MB = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.argv[3] ?? 3);

const BASE = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: e2e }
spec: { gatewayClassName: jarvis, listeners: [{ name: http, protocol: HTTP, port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: upstream, namespace: e2e }
spec: { ports: [{ name: http, port: 80 }] }
`;

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const round1 = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-bench-reload-'));
  const upstreams = new Upstreams({ connectionsPerEndpoint: 8, connectTimeoutMs: 1000, keepAliveTimeoutMs: 1000 });
  const deps: CompileDeps = {
    clock: systemClock,
    stopwatch: monotonicClock,
    timers: systemTimers,
    random: Math.random,
    upstreams,
    stores: { memory: createMemoryStore({ clock: systemClock, maxKeys: 10_000 }) },
    hotspots: new HotspotRegistry(),
    backendGuards: new BackendGuardRegistry({
      clock: monotonicClock,
      timers: systemTimers,
      random: Math.random,
      prober: createProber({ timers: systemTimers }),
      events: NO_EVENTS,
    }),
    caches: new CacheRegistry({ clock: systemClock, timers: systemTimers }),
    call: { maxBodyBytes: 1 << 20, headersTimeoutMs: 1000, bodyTimeoutMs: 1000 },
    body: { bufferBytes: 1 << 20, inspectBytes: 1 << 20, timeoutMs: 1000, budget: new BodyBudget(1 << 24), timers: systemTimers },
    identity: new IdentityHolder(anonymousIdentity, 'anonymous', { clock: systemClock, timers: systemTimers }),
    onDecision: () => {},
  };
  // As the gateway does (main.ts): slices of at most 5 ms.
  const slicing = { stopwatch: monotonicClock, sliceMs: 5, pause: () => new Promise<void>((resolve) => setImmediate(resolve)) };
  const bulk = bulkRoutes(MB * 1024 * 1024);
  writeFileSync(join(dir, '00-base.yaml'), BASE);
  writeFileSync(join(dir, '50-bulk.yaml'), bulk.text);
  const worker = new WorkerLoader(dir, undefined);
  await worker.load(); // the worker's start (module loading) is not a reload
  const stalls = { before: [] as number[], after: [] as number[] };
  const compileMs: number[] = [];

  const measure = async (load: () => Promise<LoadResult>): Promise<number> => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const r = await load();
    if (!r.ok || !r.config) throw new Error(r.ok ? 'no config' : r.error);
    const t = monotonicClock.now();
    (await compileGatewaySliced(r.config as GatewayConfig, deps, slicing)).commit();
    compileMs.push(monotonicClock.now() - t);
    // One more turn so the histogram sees the compile's stall.
    await new Promise((resolve) => setTimeout(resolve, 5));
    h.disable();
    return h.max / 1e6;
  };

  try {
    for (let i = 0; i < ROUNDS; i++) {
      stalls.before.push(await measure(() => new ConfigLoader(dir, undefined).load()));
      stalls.after.push(await measure(() => worker.load()));
    }
  } finally {
    await worker.close();
    await upstreams.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const before = median(stalls.before);
  const after = median(stalls.after);
  console.log(
    JSON.stringify({
      config_mb: round1(bulk.text.length / 1024 / 1024),
      routes: bulk.routes,
      before_max_stall_ms: stalls.before.map(round1),
      after_max_stall_ms: stalls.after.map(round1),
      before_median_ms: round1(before),
      after_median_ms: round1(after),
      compile_median_ms: round1(median(compileMs)),
      stall_ratio: Math.round((after / before) * 1000) / 1000,
    }),
  );
}

void main();
