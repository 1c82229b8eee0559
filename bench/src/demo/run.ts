/**
 * `npm run demo`: the Jarvis platform on one machine, no cluster — mock upstreams for every
 * Service of examples/, the gateway in standalone mode on the examples (plus EndpointSlices that
 * point each Service at its mock), traffic from a few tenants and users, and a live summary every
 * 2 s. Ctrl-C (or --duration S) stops everything and removes the temporary files.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import { systemClock, systemTimers } from '@jarvis/api';
import { validExampleFiles } from '@jarvis/e2e/dist/examples.js';
import { tailFile } from '@jarvis/e2e/dist/util/files.js';
import { trackDir } from '@jarvis/e2e/dist/util/processes.js';
import { type RunningMocks, startMocks } from '@jarvis/mocks';

import { type RunningGateway, GATEWAY_MAIN, gatewayAvailable, startGateway } from '../harness/gateway.js';
import { type ServiceEndpoint, endpointSlice } from '../harness/manifests.js';
import { toYamlDocuments } from '../harness/yaml.js';
import { runClusterDemo } from './cluster.js';
import { renderLimits } from './limits.js';
import { exampleServices, hotkeys, listenAddress, mockFor, DEMO_IDENTITY_FILE } from './platform.js';
import { DemoSummary } from './summary.js';
import { type Traffic, startTraffic } from './traffic.js';

const REPORT_EVERY_MS = 2_000;

export interface DemoOptions {
  /** On a cluster (the test control plane, or `kubeconfig`): operator and gateway over xDS. */
  cluster: boolean;
  /** With `cluster`: an existing cluster's kubeconfig instead of a test control plane of our own. */
  kubeconfig: string | undefined;
  /** Stop after this many seconds (a smoke test); default: until Ctrl-C. */
  durationS: number | undefined;
  /** Requests per second the traffic generator offers. */
  rate: number;
  listen: string | undefined;
  adminListen: string | undefined;
}

export function parseDemoArgs(argv: readonly string[]): DemoOptions {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const positive = (flag: string): number | undefined => {
    const raw = get(flag);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} wants a positive number, got ${raw}`);
    return n;
  };
  const known = new Set(['--cluster', '--kubeconfig', '--duration', '--rate', '--listen', '--admin-listen']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!known.has(arg)) throw new Error(`unknown argument ${arg} (known: ${[...known].join(', ')})`);
    if (arg !== '--cluster') i++;
  }
  const kubeconfig = get('--kubeconfig');
  if (kubeconfig !== undefined && !argv.includes('--cluster')) throw new Error('--kubeconfig goes with --cluster');
  return {
    cluster: argv.includes('--cluster'),
    kubeconfig,
    durationS: positive('--duration'),
    rate: positive('--rate') ?? 30,
    listen: get('--listen'),
    adminListen: get('--admin-listen'),
  };
}

/**
 * The banner. Its hints show only what the gateway does today — routing, rate limits (with their
 * RateLimit fields and 429 problems) and hot keys — and must not promise protections that are
 * not enforced yet.
 */
export function banner(
  gateway: Pick<RunningGateway, 'url' | 'adminUrl' | 'logFile'>,
  mocks: Pick<RunningMocks, 'mocks'>,
  configDir: string,
): string {
  const g = gateway.url;
  const h = `-H 'content-type: application/json' -H 'x-tenant-id: acme' -H 'x-user-id: alice' -H 'x-forwarded-for: 203.0.113.10'`;
  // An address of its own, so that the demo's traffic does not share its per-IP counter.
  const mine = `-H 'content-type: application/json' -H 'x-tenant-id: umbrella' -H 'x-user-id: zoe' -H 'x-forwarded-for: 198.51.100.99'`;
  return [
    '',
    `Jarvis Stability demo — gateway ${g}, admin ${gateway.adminUrl}`,
    `  config (examples/ + EndpointSlices to the mocks): ${configDir}`,
    `  gateway log: ${gateway.logFile}`,
    `  mocks: ${mocks.mocks.map((m) => `${m.name} ${m.url}`).join(', ')}`,
    '',
    'Try:',
    `  curl -s ${g}/api/v1/chat ${h} -d '{"message":"hello"}'`,
    `  curl -sN ${g}/v1/chat/completions ${h} -d '{"model":"gpt-4","stream":true,"messages":[{"role":"user","content":"hi"}]}'`,
    `  curl -s ${g}/api/v1/retrieve ${h} -d '{"query":"refund policy","top_k":3}'`,
    `  curl -si ${g}/api/v1/chat ${mine} -d '{}' | grep -i -e '^HTTP' -e '^ratelimit' -e '^retry-after'`,
    `      # RateLimit-Policy and RateLimit: each level that applied and what is left of it; a 429 says which level rejected`,
    `      # (at the default --rate the demo's own traffic uses up chat-global within seconds: expect a 429 that names it)`,
    `  curl -s ${gateway.adminUrl}/admin/hotkeys      # heavy hitters per route (eve of acme is the busy one); hot values get the stricter hotspot limit`,
    `  curl -s ${gateway.adminUrl}/admin/config       # the config in use and each route's limits as enforced`,
    `  curl -s ${gateway.adminUrl}/metrics | grep ^jarvis_gateway_ratelimit`,
    '',
  ].join('\n');
}

async function adminConfig(adminUrl: string): Promise<unknown> {
  try {
    const res = await fetch(`${adminUrl}/admin/config`, { signal: AbortSignal.timeout(2_000) });
    return res.status === 200 ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the demo; resolves with the exit code once it has stopped and cleaned up. */
export async function runDemo(argv: readonly string[]): Promise<number> {
  const opts = parseDemoArgs(argv);
  if (opts.cluster) return runClusterDemo(opts);
  const out = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  if (!gatewayAvailable()) {
    process.stderr.write(`[demo] the gateway is not built: ${GATEWAY_MAIN} is missing (npm run build).\n`);
    return 1;
  }
  const root = await mkdtemp(join(tmpdir(), 'jarvis-demo-'));
  const forgetRoot = trackDir(root);
  let mocks: RunningMocks | undefined;
  let gateway: RunningGateway | undefined;
  let traffic: Traffic | undefined;
  let report: { cancel(): void } | undefined;
  try {
    const files = validExampleFiles();
    const services = exampleServices(files);
    mocks = await startMocks({ mocks: services.map((s) => mockFor(s.name)) });
    const configDir = join(root, 'config');
    await mkdir(configDir);
    for (const file of files) await cp(file, join(configDir, basename(file)));
    const endpoints: ServiceEndpoint[] = services.map((s) => ({
      namespace: s.namespace,
      service: s.name,
      ...(s.portName !== undefined ? { portName: s.portName } : {}),
      port: mocks?.get(s.name).port ?? 0,
    }));
    await writeFile(join(configDir, '90-endpointslices.demo.yaml'), toYamlDocuments(endpoints.map(endpointSlice)));
    const redisUrl = process.env['REDIS_URL'];
    process.stderr.write(
      `[demo] starting the gateway${redisUrl ? ` with Redis ${redisUrl}` : ' without Redis (set REDIS_URL to use one)'}\n`,
    );
    gateway = await startGateway({
      configDir,
      identityFile: DEMO_IDENTITY_FILE,
      listen: await listenAddress(opts.listen, 8080),
      adminListen: await listenAddress(opts.adminListen, 9901),
      logFile: join(root, 'gateway.log'),
      ...(redisUrl ? { redisUrl } : { acceptNotReadyAfterMs: 3_000 }),
    });
    out(banner(gateway, mocks, configDir));
    if (gateway.notReady !== undefined) out(`Note: the gateway reports not ready (${gateway.notReady}).\n`);
    const limits = renderLimits(await adminConfig(gateway.adminUrl));
    if (limits.length > 0) out(`${limits.join('\n')}\n`);
    out(
      `Traffic: ${opts.rate} requests/s from ${['acme', 'globex', 'initech', 'umbrella'].join(', ')} (eve of acme is the busy one). ${opts.durationS ? `Stops after ${opts.durationS} s.` : 'Ctrl-C stops.'}\n`,
    );

    const summary = new DemoSummary();
    const started = systemClock.now();
    let last = started;
    traffic = startTraffic({ gatewayUrl: gateway.url, rate: opts.rate, timers: systemTimers, onOutcome: (o) => summary.record(o) });
    const running = gateway;
    const code = await new Promise<number>((done) => {
      const onSignal = (): void => {
        out('\nstopping…');
        resolve(0);
      };
      const resolve = (c: number): void => {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
        done(c);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const tick = (): void => {
        void hotkeys(running.adminUrl).then((hot) => {
          const now = systemClock.now();
          out(summary.render((now - started) / 1000, (now - last) / 1000, hot).join('\n'));
          last = now;
          if (running.exited()) {
            void tailFile(running.logFile, 20).then((tail) => {
              process.stderr.write(`[demo] the gateway exited; last lines of its log:\n${tail}\n`);
              resolve(1);
            });
            return;
          }
          if (opts.durationS !== undefined && now - started >= opts.durationS * 1000) resolve(0);
          else report = systemTimers.after(REPORT_EVERY_MS, tick);
        });
      };
      report = systemTimers.after(REPORT_EVERY_MS, tick);
      // The timers do not keep the process alive on their own; the mock servers do.
    });
    return code;
  } finally {
    report?.cancel();
    await traffic?.stop();
    await gateway?.stop();
    await mocks?.close();
    await rm(root, { recursive: true, force: true });
    forgetRoot();
  }
}
