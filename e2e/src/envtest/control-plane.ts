import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { clock, since } from '../clock.js';
import { CommandError, run } from '../util/exec.js';
import { tailFile } from '../util/files.js';
import { getString } from '../util/guards.js';
import { pollUntil, type Probe } from '../util/poll.js';
import { hasExited, stopChild, trackChild, trackDir } from '../util/processes.js';
import { type Binaries, ensureBinaries } from './binaries.js';
import { createCertificates } from './certs.js';
import { type ApiEndpoint, httpGetStatus, request, writeKubeconfig } from './client.js';
import { freePorts } from './ports.js';

export { type ApiEndpoint, type ApiResponse, request } from './client.js';

export interface ControlPlane extends ApiEndpoint {
  /** Scratch folder: pki/, etcd/ (data), kubeconfig, etcd.log, kube-apiserver.log. */
  dir: string;
  /** Admin kubeconfig (`<dir>/kubeconfig`). */
  kubeconfig: string;
  /** http://127.0.0.1:PORT */
  etcdUrl: string;
  etcdPid: number;
  apiserverPid: number;
  /** Whether etcd and kube-apiserver outlive this process. */
  detached: boolean;
  binaries: Binaries;
  /** SIGTERM kube-apiserver then etcd (SIGKILL after 10 s), then remove `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface StartControlPlaneOptions {
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Parent of the fresh scratch folder (default: the OS temp dir). */
  dir?: string;
  /**
   * Spawn etcd and kube-apiserver detached (own process group, unref'd) so they outlive this
   * process. Otherwise they are killed when this process is interrupted or exits.
   */
  detached?: boolean;
  binaries?: Binaries;
  etcdReadyTimeoutMs?: number;
  apiserverReadyTimeoutMs?: number;
  extraApiserverArgs?: string[];
}

const LOG_TAIL_LINES = 40;

class PortInUseError extends Error {}

interface Launched {
  name: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
  forget: () => void;
}

async function launch(name: string, bin: string, args: string[], logFile: string, detached: boolean): Promise<Launched> {
  const fd = openSync(logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`cannot start ${name} (${bin}): ${err.message}`);
  }
  child.on('error', () => {
    /* spawn errors are handled above; later errors (kill on a dead pid) are irrelevant */
  });
  const forget = trackChild(child);
  return { name, child, pid: child.pid, logFile, forget };
}

async function exitedEarly(proc: Launched): Promise<Error> {
  const tail = await tailFile(proc.logFile, LOG_TAIL_LINES);
  const how = proc.child.signalCode !== null ? `signal ${proc.child.signalCode}` : `exit code ${String(proc.child.exitCode)}`;
  const message = `${proc.name} exited (${how}) before it was ready; last ${LOG_TAIL_LINES} lines of ${proc.logFile}:\n${tail}`;
  return /address already in use/i.test(tail) ? new PortInUseError(message) : new Error(message);
}

async function waitReady(proc: Launched, what: string, timeoutMs: number, probe: () => Promise<Probe<true>>): Promise<void> {
  try {
    await pollUntil(
      async () => {
        if (hasExited(proc.child)) throw await exitedEarly(proc);
        return probe();
      },
      { what, timeoutMs, intervalMs: 100 },
    );
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('timed out')) {
      const tail = await tailFile(proc.logFile, LOG_TAIL_LINES);
      throw new Error(`${proc.name}: ${err.message}; last ${LOG_TAIL_LINES} lines of ${proc.logFile}:\n${tail}`);
    }
    throw err;
  }
}

const noFsyncSupport = new Map<string, Promise<boolean>>();

/** Whether this etcd's --help lists --unsafe-no-fsync (3.5+). */
function etcdSupportsNoFsync(etcd: string): Promise<boolean> {
  let known = noFsyncSupport.get(etcd);
  if (!known) {
    known = run(etcd, ['--help'], { timeoutMs: 10_000 })
      .then(({ stdout, stderr }) => `${stdout}${stderr}`)
      .catch((err: unknown) => (err instanceof CommandError ? `${err.stdout}${err.stderr}` : ''))
      .then((help) => help.includes('--unsafe-no-fsync'));
    noFsyncSupport.set(etcd, known);
  }
  return known;
}

/** The failing checks of a /healthz body ("[-]poststarthook/x failed: reason withheld"). */
function failingChecks(body: string): string {
  const failing = body.split('\n').filter((l) => l.startsWith('[-]'));
  return (failing.length > 0 ? failing : body.trim().split('\n').slice(-2)).join(' | ');
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Starts etcd and kube-apiserver the way controller-runtime's envtest does, on free loopback
 * ports, with a fresh CA, and writes an admin kubeconfig. Resolves once kube-apiserver's
 * /healthz answers 200.
 */
export async function startControlPlane(opts: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? ((): void => undefined);
  // Without a log of our own, the build's progress goes to stderr (ensureBinaries' default).
  const binaries = opts.binaries ?? (await ensureBinaries(opts.log ? { log: opts.log } : {}));
  const noFsync = await etcdSupportsNoFsync(binaries.etcd);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, log, binaries, noFsync);
    } catch (err) {
      if (err instanceof PortInUseError && attempt < 3) {
        log(`a port was taken before we could use it; retrying (${describe(err).split('\n')[0] ?? ''})`);
        continue;
      }
      throw err;
    }
  }
}

async function startOnce(
  opts: StartControlPlaneOptions,
  log: (line: string) => void,
  binaries: Binaries,
  noFsync: boolean,
): Promise<ControlPlane> {
  const detached = opts.detached ?? false;
  const start = clock.now();
  const parent = path.resolve(opts.dir ?? os.tmpdir());
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(path.join(parent, 'jarvis-envtest-'));
  const forgetDir = trackDir(dir);
  const launched: Launched[] = [];
  try {
    const certs = await createCertificates(path.join(dir, 'pki'));
    const [etcdPort, peerPort, apiPort] = await freePorts(3);
    if (etcdPort === undefined || peerPort === undefined || apiPort === undefined) throw new Error('no free ports');
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;

    const etcd = await launch(
      'etcd',
      binaries.etcd,
      [
        '--name=envtest',
        `--data-dir=${path.join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=envtest=${peerUrl}`,
        ...(noFsync ? ['--unsafe-no-fsync=true'] : []),
      ],
      path.join(dir, 'etcd.log'),
      detached,
    );
    launched.push(etcd);
    await waitReady(etcd, `etcd ${etcdUrl}/health`, opts.etcdReadyTimeoutMs ?? 20_000, async () => {
      try {
        const res = await httpGetStatus(`${etcdUrl}/health`, 2_000);
        const healthy = res.status === 200 && getString(JSON.parse(res.text) as unknown, 'health') === 'true';
        return healthy ? { done: true, value: true } : { done: false, reason: `HTTP ${res.status} ${res.text.trim()}` };
      } catch (err) {
        return { done: false, reason: describe(err) };
      }
    });
    log(`etcd ready at ${etcdUrl} (pid ${etcd.pid}) after ${since(start)} ms`);

    const server = `https://127.0.0.1:${apiPort}`;
    const endpoint: ApiEndpoint = {
      server,
      caPem: certs.caPem,
      clientCertPem: certs.clientCertPem,
      clientKeyPem: certs.clientKeyPem,
    };
    const apiserver = await launch(
      'kube-apiserver',
      binaries.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        `--cert-dir=${path.join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${certs.servingCertFile}`,
        `--tls-private-key-file=${certs.servingKeyFile}`,
        `--secure-port=${apiPort}`,
        '--bind-address=127.0.0.1',
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--disable-admission-plugins=ServiceAccount',
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${certs.serviceAccountPubFile}`,
        `--service-account-signing-key-file=${certs.serviceAccountKeyFile}`,
        `--client-ca-file=${certs.caCertFile}`,
        ...(opts.extraApiserverArgs ?? []),
      ],
      path.join(dir, 'kube-apiserver.log'),
      detached,
    );
    launched.push(apiserver);
    await waitReady(apiserver, `kube-apiserver ${server}/healthz`, opts.apiserverReadyTimeoutMs ?? 60_000, async () => {
      try {
        const res = await request(endpoint, 'GET', '/healthz', undefined, { timeoutMs: 2_000 });
        return res.status === 200 ? { done: true, value: true } : { done: false, reason: `HTTP ${res.status} ${failingChecks(res.text)}` };
      } catch (err) {
        return { done: false, reason: describe(err) };
      }
    });
    log(`kube-apiserver ready at ${server} (pid ${apiserver.pid}) after ${since(start)} ms`);

    const kubeconfig = path.join(dir, 'kubeconfig');
    await writeKubeconfig(kubeconfig, endpoint);

    if (detached) {
      // From now on the processes belong to whoever holds the state (see state.ts), not to us.
      for (const proc of launched) {
        proc.forget();
        proc.child.unref();
      }
      forgetDir();
    }

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        const errors: string[] = [];
        for (const proc of [apiserver, etcd]) {
          try {
            await stopChild(proc.child, 10_000);
          } catch (err) {
            errors.push(`${proc.name}: ${describe(err)}`);
          } finally {
            proc.forget();
          }
        }
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
        forgetDir();
        if (errors.length) throw new Error(`stopping the control plane: ${errors.join('; ')}`);
      })();
      return stopping;
    };

    return {
      ...endpoint,
      dir,
      kubeconfig,
      etcdUrl,
      etcdPid: etcd.pid,
      apiserverPid: apiserver.pid,
      detached,
      binaries,
      stop,
    };
  } catch (err) {
    for (const proc of launched.reverse()) {
      try {
        if (!hasExited(proc.child)) proc.child.kill('SIGKILL');
        await stopChild(proc.child, 5_000);
      } catch {
        /* reported below through the original error */
      } finally {
        proc.forget();
      }
    }
    // Keep the logs (the error quotes their tail; the rest may matter), drop data and keys.
    await Promise.all(
      ['etcd', 'pki', 'apiserver-certs', 'kubeconfig'].map((name) =>
        rm(path.join(dir, name), { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined),
      ),
    );
    forgetDir();
    throw err;
  }
}
