/**
 * The traffic-switching topology of the failover e2e test and `npm run bench:failover`: one
 * standalone gateway (`--config DIR`) in front of one backend of three mock replicas, each a
 * process of its own (jarvis-mocks) on 127.0.0.1, 127.0.0.2 and 127.0.0.3 with one port, listed in
 * one IPv4 EndpointSlice (the whole 127/8 range is local on Linux), under a CircuitBreakerPolicy.
 * Load comes from the open-loop generator (bench/dist/loadgen.js) in its own process; the
 * gateway's `GET /admin/backends` is watched to time ejections and re-admissions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { clock, sleep } from './clock.js';
import { freePort } from './envtest/ports.js';
import { startGateway, type GatewayProcess } from './gateway.js';
import { repoRoot } from './paths.js';
import { scratchDir, stopChild, trackChild, type ScratchDir } from './util/processes.js';

export const MOCKS_MAIN = join(repoRoot, 'mocks', 'dist', 'main.js');
export const LOADGEN_MAIN = join(repoRoot, 'bench', 'dist', 'loadgen.js');

export const REPLICA_HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'] as const;
export const BACKEND_ID = 'failover/replicas:80';

/** The settings of the topology's CircuitBreakerPolicy that tests and the benchmark read back. */
export const FAILOVER_POLICY = {
  healthIntervalMs: 1_000,
  consecutiveGatewayErrors: 3,
  perTryTimeoutMs: 500,
  backoffMaxMs: 25,
  openBaseMs: 5_000,
  jitterPercent: 10,
} as const;

/** The policy as YAML (durations in ms). */
export function failoverPolicyYaml(p = FAILOVER_POLICY): string {
  return `apiVersion: stability.jarvis.io/v1alpha1
kind: CircuitBreakerPolicy
metadata: { name: replicas, namespace: failover }
spec:
  targetRefs: [{ group: "", kind: Service, name: replicas }]
  breaker:
    failureStatusCodes: [500, 502, 503, 504]
    failureRatePercent: 50
    window: { type: Count, size: 100 }
    minimumCalls: 20
    halfOpen: { maxProbes: 3, successThreshold: 2, probeTimeout: 2s }
    openDuration: { base: ${p.openBaseMs}ms, max: 60s, multiplierPercent: 200, jitterPercent: ${p.jitterPercent} }
  outlierDetection:
    interval: 1s
    consecutive5xx: 5
    consecutiveGatewayErrors: ${p.consecutiveGatewayErrors}
    baseEjectionTime: 30s
    maxEjectionTime: 60s
    maxEjectionPercent: 34
  activeHealthCheck:
    type: HTTP
    interval: ${p.healthIntervalMs}ms
    timeout: 300ms
    unhealthyThreshold: 2
    healthyThreshold: 1
    http: { path: /healthz, expectedStatuses: [200] }
  retry:
    attempts: 2
    perTryTimeout: ${p.perTryTimeoutMs}ms
    backoff: { base: 5ms, max: ${p.backoffMaxMs}ms }
    budget: { percent: 20, minRetriesPerSecond: 100 }
  panicThresholdPercent: 50
`;
}

/**
 * Standalone manifests: the Gateway, the Service with its one EndpointSlice of three IPv4 replicas
 * on `port` (those in `notReady` with condition ready: false), the route, the policy.
 */
export function failoverManifests(port: number, policy = failoverPolicyYaml(), notReady: readonly string[] = []): string {
  return `apiVersion: v1
kind: Namespace
metadata: { name: failover }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: failover }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: Same } } }]
---
apiVersion: v1
kind: Service
metadata: { name: replicas, namespace: failover }
spec: { ports: [{ name: http, port: 80, targetPort: ${port} }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: replicas-1, namespace: failover, labels: { kubernetes.io/service-name: replicas } }
addressType: IPv4
ports: [{ name: http, port: ${port}, protocol: TCP }]
endpoints:
${REPLICA_HOSTS.map((h) => `  - addresses: ["${h}"]\n    conditions: { ready: ${!notReady.includes(h)} }`).join('\n')}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: failover }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: / } }], backendRefs: [{ name: replicas, port: 80 }] }]
---
${policy}`;
}

/** One mock replica, a process of its own. */
export interface Replica {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** `http://host:port` as the gateway names the endpoint. */
  readonly origin: string;
  /** SIGKILL: the replica dies without a word. */
  kill(): Promise<void>;
  /** Starts it again on the same address and port (after kill); resolves when it listens. */
  restart(): Promise<void>;
  /** Changes its behaviour at run time (POST /__mock/config). */
  configure(patch: Record<string, unknown>): Promise<void>;
  /** Requests it has answered since it started (GET /__mock/stats). */
  requests(): Promise<number>;
  stop(): Promise<void>;
}

async function spawnMock(name: string, host: string, port: number): Promise<ChildProcess> {
  const spec = JSON.stringify({ mocks: [{ name, kind: 'trivial', host, port }] });
  const child = spawn(process.execPath, [MOCKS_MAIN, '--spec', spec], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()).length > 4096 && (stderr = stderr.slice(-4096)));
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const fail = (why: string) => {
      lines.close();
      reject(new Error(`mock ${name} on ${host}:${port} ${why}: ${stderr.trim()}`));
    };
    const timer = setTimeout(() => fail('printed nothing within 10 s'), 10_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(`exited (${signal ?? String(code)})`);
    });
    lines.once('line', () => {
      clearTimeout(timer);
      lines.close();
      child.stdout?.resume();
      child.removeAllListeners('exit');
      resolve();
    });
  });
  return child;
}

async function startReplica(name: string, host: string, port: number): Promise<Replica> {
  let child = await spawnMock(name, host, port);
  const url = `http://${host}:${port}`;
  return {
    name,
    host,
    port,
    url,
    origin: url,
    async kill() {
      child.kill('SIGKILL');
      await stopChild(child, 2_000);
    },
    async restart() {
      child = await spawnMock(name, host, port);
    },
    async configure(patch) {
      const res = await fetch(`${url}/__mock/config`, { method: 'POST', body: JSON.stringify(patch), signal: AbortSignal.timeout(2_000) });
      if (res.status !== 200) throw new Error(`mock ${name}: /__mock/config answered ${res.status}: ${await res.text()}`);
    },
    async requests() {
      const res = await fetch(`${url}/__mock/stats`, { signal: AbortSignal.timeout(2_000) });
      return ((await res.json()) as { requests: number }).requests;
    },
    stop: () => stopChild(child, 2_000),
  };
}

/** What `GET /admin/backends` says of one endpoint. */
export interface EndpointState {
  readonly origin: string;
  readonly ready: boolean;
  readonly health: string;
  readonly ejected: boolean;
  readonly ejection?: { readonly reason: string; readonly remainingMs: number };
  readonly receivesTraffic: boolean;
}

export interface BackendState {
  readonly id: string;
  /** The CircuitBreakerPolicy in force, `namespace/name`, or null. */
  readonly policy: string | null;
  readonly panic: boolean;
  readonly breaker: { readonly state: string } | null;
  readonly endpoints: readonly EndpointState[];
}

/** The gateway's view of every backend, or undefined when it cannot be read. */
export async function adminBackends(adminUrl: string): Promise<BackendState[] | undefined> {
  try {
    const res = await fetch(`${adminUrl}/admin/backends`, { signal: AbortSignal.timeout(2_000) });
    if (res.status !== 200) return undefined;
    return ((await res.json()) as { backends: BackendState[] }).backends;
  } catch {
    return undefined;
  }
}

/** What the load generator reports (bench/src/loadgen.ts LoadResult, the parts read here). */
export interface LoadSummary {
  sent: number;
  completed: number;
  achieved_rps: number;
  latency_ms: { p50: number | null; p99: number | null; max: number | null };
  send_lag_ms: { p99: number | null } | null;
  status: Record<string, number>;
  errors: Record<string, number>;
}

/** Successful (2xx) answers over requests sent. */
export function successRatio(r: LoadSummary): number {
  const ok = Object.entries(r.status)
    .filter(([s]) => s.startsWith('2'))
    .reduce((n, [, c]) => n + c, 0);
  return r.sent > 0 ? ok / r.sent : 0;
}

/** Runs the open-loop generator in its own process: `rate` requests/s for `durationS` after `warmupS`. */
export function runLoad(
  url: string,
  opts: { rate: number; durationS: number; warmupS?: number; connections?: number },
): Promise<LoadSummary> {
  const args = [
    LOADGEN_MAIN,
    '--url',
    url,
    '--mode',
    'open',
    '--rate',
    String(opts.rate),
    '--duration',
    String(opts.durationS),
    '--warmup',
    String(opts.warmupS ?? 0.5),
    '--connections',
    String(opts.connections ?? 128),
    '--timeout-ms',
    '10000',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`loadgen exited ${String(code)}: ${err.trim() || out.trim()}`));
      resolve(JSON.parse(line) as LoadSummary);
    });
  });
}

/**
 * Polls `/admin/backends` every `intervalMs` until `predicate` holds for the backend; resolves
 * with the clock reading when it first held, or rejects after `timeoutMs`.
 */
export async function waitForBackend(
  adminUrl: string,
  predicate: (b: BackendState) => boolean,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<number> {
  const start = clock.now();
  let last = 'no answer';
  for (;;) {
    const backend = (await adminBackends(adminUrl))?.find((b) => b.id === BACKEND_ID);
    if (backend && predicate(backend)) return clock.now();
    if (backend) last = JSON.stringify(backend);
    if (clock.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await sleep(intervalMs);
  }
}

export interface FailoverTopology {
  readonly replicas: readonly Replica[];
  readonly gateway: GatewayProcess;
  /** The traffic URL the load goes to. */
  readonly url: string;
  readonly port: number;
  /** Rewrites the manifests (the gateway reloads them), with the replicas on `notReady` hosts not ready. */
  markNotReady(notReady: readonly string[]): void;
  stop(): Promise<void>;
}

/** Three replicas, their manifests and a gateway on them, ready (every replica probed healthy). */
export async function startFailoverTopology(name: string, policy?: string): Promise<FailoverTopology> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const replicas: Replica[] = [];
    let dir: ScratchDir | undefined;
    let gateway: GatewayProcess | undefined;
    try {
      for (const [i, host] of REPLICA_HOSTS.entries()) replicas.push(await startReplica(`r${i + 1}`, host, port));
      dir = scratchDir(`jarvis-failover-${name}-`, `failover config ${name}`);
      const file = join(dir.path, 'failover.yaml');
      writeFileSync(file, failoverManifests(port, policy));
      const gw = await startGateway({ name, args: ['--config', dir.path] });
      gateway = gw;
      const configDir = dir;
      const topology: FailoverTopology = {
        replicas,
        gateway: gw,
        url: gw.url,
        port,
        markNotReady: (notReady) => writeFileSync(file, failoverManifests(port, policy, notReady)),
        async stop() {
          await gw.stop();
          await Promise.all(replicas.map((r) => r.stop()));
          configDir.release();
        },
      };
      await waitForBackend(
        gw.adminUrl,
        (b) => b.endpoints.length === 3 && b.endpoints.every((e) => e.receivesTraffic && (b.policy === null || e.health === 'healthy')),
        'every replica probed healthy',
      );
      return topology;
    } catch (err) {
      lastError = err;
      await gateway?.stop();
      await Promise.all(replicas.map((r) => r.stop()));
      dir?.release();
      // A port taken on 127.0.0.2 or .3 by someone else: try another.
      if (!String(err).includes('EADDRINUSE') && !String(err).includes('exited')) throw err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
