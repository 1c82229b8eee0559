import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { buildBinariesScript, envtestCacheRoot } from '../paths.js';
import { withFileLock } from '../util/lock.js';
import { trackChild } from '../util/processes.js';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
}

/** Building from scratch takes 5-20 min on a small machine; this only guards against a hang. */
export const BUILD_TIMEOUT_MS = 60 * 60 * 1000;

export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function binariesIn(dir: string): Promise<Binaries | undefined> {
  const bins = { etcd: path.join(dir, 'etcd'), kubeApiserver: path.join(dir, 'kube-apiserver') };
  return (await isExecutable(bins.etcd)) && (await isExecutable(bins.kubeApiserver)) ? bins : undefined;
}

/**
 * Runs one of the build scripts (e2e/envtest/build-*.sh): its stderr lines go to `log`, its last
 * stdout line is the bin folder it reports.
 */
export function runBuildScript(script: string, log: (line: string) => void): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    // Own process group, so that an interruption kills `go build` too, not only bash.
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const forget = trackChild(child, { group: true });
    const stdoutLines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.trim()) stdoutLines.push(line.trim());
    });
    createInterface({ input: child.stderr }).on('line', (line) => log(line));
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, BUILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      forget();
      reject(new Error(`cannot run ${script}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      forget();
      const binDir = stdoutLines.at(-1);
      if (code === 0 && binDir) {
        resolve(binDir);
        return;
      }
      const status = signal ? `killed by ${signal}` : `exit code ${String(code)}`;
      const hint =
        code === 127
          ? 'a command was not found: is `go` (1.24+) on PATH?'
          : 'its output is above; it needs Go and access to the Go module proxy';
      reject(new Error(`${script} failed (${status}): ${hint}`));
    });
  });
}

let pending: Promise<Binaries> | undefined;

/**
 * Paths of etcd and kube-apiserver. `$JARVIS_ENVTEST_BIN_DIR` wins when it holds both;
 * otherwise e2e/envtest/build-binaries.sh builds what is missing into the cache (its progress
 * goes to our stderr) and its last stdout line is the bin folder.
 */
export function ensureBinaries(opts: { log?: (line: string) => void } = {}): Promise<Binaries> {
  pending ??= resolveBinaries(opts.log ?? ((line) => process.stderr.write(`[envtest-binaries] ${line}\n`))).catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function resolveBinaries(log: (line: string) => void): Promise<Binaries> {
  const override = process.env['JARVIS_ENVTEST_BIN_DIR'];
  if (override) {
    const bins = await binariesIn(path.resolve(override));
    if (bins) return bins;
    log(`JARVIS_ENVTEST_BIN_DIR=${override} lacks an executable etcd and kube-apiserver; building instead`);
  }
  // One build at a time across processes: the script writes fixed temporary file names.
  const binDir = await withFileLock(path.join(envtestCacheRoot(), 'build.lock'), () => runBuildScript(buildBinariesScript, log), {
    timeoutMs: BUILD_TIMEOUT_MS,
    log,
    holderHint: 'another envtest binaries build',
  });
  const bins = await binariesIn(binDir);
  if (!bins) {
    throw new Error(`${buildBinariesScript} reported ${binDir}, but it does not hold executable etcd and kube-apiserver`);
  }
  return bins;
}
