/** Runs real jarvis-operator processes for e2e tests, the way a cluster would run its replicas. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { clock, sleep } from './clock.js';
import { repoRoot } from './paths.js';
import { freePorts } from './envtest/ports.js';
import { hasExited, scratchDir, supervise } from './util/processes.js';
import { tailFile } from './util/files.js';
import { scrapeMetric } from './util/metrics.js';

export interface OperatorProcess {
  readonly id: string;
  readonly xdsAddress: string;
  readonly healthUrl: string;
  /** In the process's scratch folder: removed by stop() and kill(), kept if the process exited unasked (see scratchDir). */
  readonly logFile: string;
  readonly child: ChildProcess;
  /** The value of a metric (summed over its label sets matching `labels`), or undefined. */
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** SIGTERM and wait (graceful); then removes the scratch folder. */
  stop(): Promise<void>;
  /** SIGKILL: a crash; then removes the scratch folder. */
  kill(): Promise<void>;
}

export const operatorMain = join(repoRoot, 'operator', 'dist', 'main.js');

export async function startOperator(options: {
  kubeconfig: string;
  id: string;
  leaseDuration?: string;
  extraArgs?: readonly string[];
  /**
   * Flags instead of the test defaults (`--lease-namespace default --lease-duration 4s` and
   * `extraArgs`), e.g. a Deployment's; --kubeconfig, the listeners and --id are still ours.
   */
  args?: readonly string[];
  /** Added to the environment (e.g. POD_NAMESPACE, as the downward API sets it). */
  env?: Readonly<Record<string, string>>;
}): Promise<OperatorProcess> {
  const [xdsPort, healthPort] = await freePorts(2);
  const dir = scratchDir(`jarvis-operator-${options.id}-`, `operator ${options.id}`);
  const logFile = join(dir.path, 'operator.log');
  const child = spawn(
    process.execPath,
    [
      operatorMain,
      '--kubeconfig',
      options.kubeconfig,
      '--xds-listen',
      `127.0.0.1:${xdsPort}`,
      '--health-listen',
      `127.0.0.1:${healthPort}`,
      '--id',
      options.id,
      ...(options.args ?? [
        '--lease-namespace',
        'default',
        '--lease-duration',
        options.leaseDuration ?? '4s',
        ...(options.extraArgs ?? []),
      ]),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env ? { env: { ...process.env, ...options.env } } : {}) },
  );
  const supervised = supervise(child, dir, logFile);
  const healthUrl = `http://127.0.0.1:${healthPort}`;

  const started = clock.now();
  for (;;) {
    if (hasExited(child)) {
      dir.keep('exited during start');
      throw new Error(`operator ${options.id} exited during start:\n${await tailFile(logFile)}`);
    }
    const ok = await fetch(`${healthUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (clock.now() - started > 20_000) {
      dir.keep('did not answer /healthz within 20 s');
      throw new Error(`operator ${options.id} did not answer /healthz:\n${await tailFile(logFile)}`);
    }
    await sleep(100);
  }

  const metric = (name: string, labels: Record<string, string> = {}) => scrapeMetric(`${healthUrl}/metrics`, name, labels);

  return {
    id: options.id,
    xdsAddress: `127.0.0.1:${xdsPort}`,
    healthUrl,
    logFile,
    child,
    metric,
    stop: () => supervised.stop(10_000),
    kill: () => supervised.kill(),
  };
}
