/** Runs real jarvis-gateway processes and a trivial upstream for e2e tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { clock, sleep } from './clock.js';
import { freePorts } from './envtest/ports.js';
import { repoRoot } from './paths.js';
import { tailFile } from './util/files.js';
import { scrapeMetric } from './util/metrics.js';
import { hasExited, scratchDir, supervise } from './util/processes.js';

export interface GatewayProcess {
  readonly url: string;
  readonly adminUrl: string;
  /** In the process's scratch folder: removed by stop() and kill(), kept if the process exited unasked (see scratchDir). */
  readonly logFile: string;
  readonly child: ChildProcess;
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** SIGTERM and wait; then removes the scratch folder. */
  stop(): Promise<void>;
  /** SIGKILL and wait; then removes the scratch folder. */
  kill(): Promise<void>;
}

export const gatewayMain = join(repoRoot, 'dataplane', 'dist', 'main.js');

export async function startGateway(options: {
  args: readonly string[];
  env?: Record<string, string>;
  name: string;
  waitReady?: boolean;
}): Promise<GatewayProcess> {
  const [port, adminPort] = await freePorts(2);
  const dir = scratchDir(`jarvis-gateway-${options.name}-`, `gateway ${options.name}`);
  const logFile = join(dir.path, 'gateway.log');
  const child = spawn(
    process.execPath,
    [gatewayMain, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`, '--node-id', options.name, ...options.args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, REDIS_URL: '', ...options.env },
    },
  );
  const supervised = supervise(child, dir, logFile);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const started = clock.now();
  for (;;) {
    if (hasExited(child)) {
      dir.keep('exited during start');
      throw new Error(`gateway ${options.name} exited during start:\n${await tailFile(logFile)}`);
    }
    const path = options.waitReady === false ? '/healthz' : '/readyz';
    if (
      await fetch(`${adminUrl}${path}`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (clock.now() - started > 20_000) {
      dir.keep('not ready after 20 s');
      throw new Error(`gateway ${options.name} not ready:\n${await tailFile(logFile)}`);
    }
    await sleep(100);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    adminUrl,
    logFile,
    child,
    metric: (name, labels = {}) => scrapeMetric(`${adminUrl}/metrics`, name, labels),
    stop: () => supervised.stop(15_000),
    kill: () => supervised.kill(),
  };
}

/** How the test upstream answers, changed at runtime (`behave`). */
export interface UpstreamBehaviour {
  /** Status of every answer (default 200). */
  status: number;
  /** Delay before answering, ms (default 0). */
  latencyMs: number;
  /** Extra response headers. */
  headers: Record<string, string>;
}

export interface TestUpstream {
  readonly port: number;
  /** Requests received so far (the mock counts every one); with `pathPrefix`, only those whose path starts with it. */
  requests(pathPrefix?: string): number;
  /** Changes how it answers from now on. */
  behave(patch: Partial<UpstreamBehaviour>): void;
  close(): Promise<void>;
}

/** A trivial upstream on loopback that answers with what it saw (200 unless told otherwise). */
export async function startUpstream(): Promise<TestUpstream> {
  let count = 0;
  // Paths seen (the latest 10,000), for counts by prefix: a health check is not traffic.
  const paths: string[] = [];
  let behaviour: UpstreamBehaviour = { status: 200, latencyMs: 0, headers: {} };
  const server = http.createServer((req, res) => {
    const n = ++count;
    if (paths.length >= 10_000) paths.shift();
    paths.push(req.url ?? '');
    const b = behaviour;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (): void => {
        res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers });
        res.end(
          JSON.stringify({
            n,
            path: req.url,
            method: req.method,
            tenant: req.headers['x-tenant-id'] ?? null,
            user: req.headers['x-user-id'] ?? null,
            // What arrived, so tests can check what the gateway forwarded (bodies here are small).
            body: Buffer.concat(chunks).toString('utf8'),
            contentLength: req.headers['content-length'] ?? null,
          }),
        );
      };
      if (b.latencyMs > 0) setTimeout(answer, b.latencyMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    requests: (pathPrefix) => (pathPrefix === undefined ? count : paths.filter((p) => p.startsWith(pathPrefix)).length),
    behave: (patch) => void (behaviour = { ...behaviour, ...patch }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Standalone manifests: our GatewayClass, a Gateway, a Service whose EndpointSlice names the upstream, an HTTPRoute, plus `extra`. */
export function standaloneConfig(upstreamPort: number, extra = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: e2e }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: Same } } }]
---
apiVersion: v1
kind: Service
metadata: { name: upstream, namespace: e2e }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: upstream-1, namespace: e2e, labels: { kubernetes.io/service-name: upstream } }
addressType: FQDN
ports: [{ name: http, port: ${upstreamPort} }]
endpoints: [{ addresses: [upstream.localhost] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: e2e }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /api } }], backendRefs: [{ name: upstream, port: 80 }] }]
${extra ? `---\n${extra}` : ''}`;
}
