import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { clock } from '../clock.js';
import { envtestCacheRoot } from '../paths.js';
import { errorCode, getNumber, getString, isRecord } from '../util/guards.js';
import { withFileLock } from '../util/lock.js';
import { isPidAlive, stopPid } from '../util/processes.js';
import { endpointFromKubeconfig, isApiHealthy } from './client.js';
import type { ControlPlane } from './control-plane.js';

/** What `envtest up` records about the detached control plane it started. */
export interface EnvtestState {
  version: 1;
  dir: string;
  kubeconfig: string;
  server: string;
  etcdUrl: string;
  etcdPid: number;
  apiserverPid: number;
  startedAt: string;
  /** Gateway API version whose CRDs were installed completely (unset while `up` runs). */
  gatewayApiVersion?: string;
}

/** `${XDG_CACHE_HOME:-~/.cache}/jarvis-stability/envtest/run` (also holds the instance's dir). */
export function runDir(): string {
  return path.join(envtestCacheRoot(), 'run');
}

export function stateFilePath(): string {
  return path.join(runDir(), 'state.json');
}

export function stateFromControlPlane(cp: ControlPlane): EnvtestState {
  return {
    version: 1,
    dir: cp.dir,
    kubeconfig: cp.kubeconfig,
    server: cp.server,
    etcdUrl: cp.etcdUrl,
    etcdPid: cp.etcdPid,
    apiserverPid: cp.apiserverPid,
    startedAt: new Date(clock.now()).toISOString(),
  };
}

function parseState(raw: unknown): EnvtestState | undefined {
  if (!isRecord(raw) || raw['version'] !== 1) return undefined;
  const dir = getString(raw, 'dir');
  const kubeconfig = getString(raw, 'kubeconfig');
  const server = getString(raw, 'server');
  const etcdUrl = getString(raw, 'etcdUrl');
  const etcdPid = getNumber(raw, 'etcdPid');
  const apiserverPid = getNumber(raw, 'apiserverPid');
  const startedAt = getString(raw, 'startedAt') ?? '';
  const gatewayApiVersion = getString(raw, 'gatewayApiVersion');
  if (!dir || !kubeconfig || !server || !etcdUrl || etcdPid === undefined || apiserverPid === undefined) return undefined;
  return {
    version: 1,
    dir,
    kubeconfig,
    server,
    etcdUrl,
    etcdPid,
    apiserverPid,
    startedAt,
    ...(gatewayApiVersion === undefined ? {} : { gatewayApiVersion }),
  };
}

/** The recorded instance, or undefined when there is no (readable) state file. */
export async function readState(): Promise<EnvtestState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFilePath(), 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return parseState(JSON.parse(text));
  } catch {
    return undefined;
  }
}

export async function writeState(state: EnvtestState): Promise<void> {
  const file = stateFilePath();
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

export async function removeState(): Promise<void> {
  await rm(stateFilePath(), { force: true });
}

export type InstanceHealth = { healthy: true } | { healthy: false; reason: string };

/** Both processes alive (and really ours) and kube-apiserver's /healthz answers 200. */
export async function checkInstance(state: EnvtestState): Promise<InstanceHealth> {
  if (!isPidAlive(state.etcdPid, state.dir)) return { healthy: false, reason: `etcd (pid ${state.etcdPid}) is not running` };
  if (!isPidAlive(state.apiserverPid, state.dir)) {
    return { healthy: false, reason: `kube-apiserver (pid ${state.apiserverPid}) is not running` };
  }
  let endpoint;
  try {
    endpoint = await endpointFromKubeconfig(state.kubeconfig);
  } catch (err) {
    return { healthy: false, reason: `cannot read ${state.kubeconfig}: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!endpoint) return { healthy: false, reason: `${state.kubeconfig} has no client-certificate credentials` };
  if (!(await isApiHealthy(endpoint))) return { healthy: false, reason: `${state.server}/healthz does not answer 200` };
  return { healthy: true };
}

/** The instance from the state file when it is healthy. */
export async function findHealthyInstance(): Promise<EnvtestState | undefined> {
  const state = await readState();
  if (!state) return undefined;
  return (await checkInstance(state)).healthy ? state : undefined;
}

/** Stops a recorded instance (SIGTERM, SIGKILL after 10 s), removes its dir and the state file. */
export async function stopInstance(state: EnvtestState): Promise<void> {
  // Only signal processes whose command line names the instance's dir (no pid-reuse accidents).
  await stopPid(state.apiserverPid, { marker: state.dir, graceMs: 10_000 });
  await stopPid(state.etcdPid, { marker: state.dir, graceMs: 10_000 });
  // Never remove anything outside the run dir, whatever the state file says.
  const dir = path.resolve(state.dir);
  if (path.dirname(dir) === path.resolve(runDir())) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  await removeState();
}

/**
 * Runs `fn` holding `run/lock`, so that `up`, `down` and test runs do not race on the state file.
 */
export function withStateLock<T>(fn: () => Promise<T>, opts: { timeoutMs?: number; log?: (line: string) => void } = {}): Promise<T> {
  return withFileLock(path.join(runDir(), 'lock'), fn, { ...opts, holderHint: 'another envtest up/down or test run' });
}
