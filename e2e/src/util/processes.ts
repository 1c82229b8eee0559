import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { clock, sleep } from '../clock.js';
import { errorCode } from './guards.js';

/**
 * Children (and their scratch folders) this process must not leak: on SIGINT/SIGTERM/SIGHUP
 * or on exit they are SIGKILLed and the folders removed, synchronously.
 *
 * One registry per process, not per copy of this module: a test runner that runs several test
 * files in one process evaluates the module again for each, and hooks installed per copy would
 * pile up on `process` (Node warns past ten listeners of one event).
 */
interface Owned {
  readonly children: Set<ChildProcess>;
  /** Children spawned as process-group leaders (detached): the whole group is killed. */
  readonly groupLeaders: WeakSet<ChildProcess>;
  readonly dirs: Set<string>;
  hooksInstalled: boolean;
}
const REGISTRY = Symbol.for('jarvis.e2e.owned-processes');
const holder = globalThis as typeof globalThis & { [REGISTRY]?: Owned };
const owned: Owned = (holder[REGISTRY] ??= {
  children: new Set(),
  groupLeaders: new WeakSet(),
  dirs: new Set(),
  hooksInstalled: false,
});
const ownedChildren = owned.children;
const groupLeaders = owned.groupLeaders;
const ownedDirs = owned.dirs;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killOwnedSync(): void {
  for (const child of ownedChildren) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        if (groupLeaders.has(child) && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  ownedChildren.clear();
  for (const dir of ownedDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      /* best effort at exit */
    }
  }
  ownedDirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killOwnedSync();
  // If nobody else handles the signal, behave like the default handler would (terminate).
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

function installHooks(): void {
  if (owned.hooksInstalled) return;
  owned.hooksInstalled = true;
  // Prepended: other handlers (vitest's, for one) call process.exit() from their SIGINT/SIGTERM
  // and 'exit' listeners, and listeners after such a call never run.
  process.prependListener('exit', killOwnedSync);
  for (const signal of SIGNALS) process.prependListener(signal, onSignal);
}

/**
 * Kill `child` if this process is interrupted or exits — with `group`, its whole process group
 * (spawn it with `detached: true`). Returns the function that forgets it.
 */
export function trackChild(child: ChildProcess, opts: { group?: boolean } = {}): () => void {
  installHooks();
  ownedChildren.add(child);
  if (opts.group) groupLeaders.add(child);
  const forget = (): void => {
    ownedChildren.delete(child);
  };
  child.once('exit', forget);
  return forget;
}

/** Remove `dir` if this process is interrupted or exits. Returns the function that forgets it. */
export function trackDir(dir: string): () => void {
  installHooks();
  ownedDirs.add(dir);
  return () => {
    ownedDirs.delete(dir);
  };
}

/** `JARVIS_KEEP_TEST_DIRS=1`: keep every scratch folder of a launched process (see scratchDir). */
const keepTestDirs = process.env.JARVIS_KEEP_TEST_DIRS === '1';

/** The scratch folder of one launched process: its state and its log. */
export interface ScratchDir {
  readonly path: string;
  /** Keep the folder for someone to read, and print its path to stderr (once). */
  keep(why: string): void;
  /** Remove the folder now, unless it is kept. Safe to call twice. */
  release(): void;
}

/**
 * A new folder `<tmpdir>/<prefix>XXXXXX` for the process `what`: removed by release() (the
 * process was stopped as planned) or when this process exits, unless keep() was called first or
 * JARVIS_KEEP_TEST_DIRS=1 is set — then it stays, and its path is printed to stderr once.
 */
export function scratchDir(prefix: string, what: string): ScratchDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const forget = trackDir(path);
  let state: 'live' | 'kept' | 'removed' = 'live';
  const keep = (why: string): void => {
    if (state !== 'live') return;
    state = 'kept';
    forget();
    process.stderr.write(`[e2e] ${what}: ${why}; its folder is kept: ${path}\n`);
  };
  if (keepTestDirs) keep('JARVIS_KEEP_TEST_DIRS=1');
  return {
    path,
    keep,
    release: () => {
      if (state !== 'live') return;
      state = 'removed';
      forget();
      rmSync(path, { recursive: true, force: true, maxRetries: 2 });
    },
  };
}

/**
 * Writes `child`'s stdout and stderr to `logFile`, which is closed once the child's output is.
 * Returns the function that waits (at most `ms`) for the file to be closed.
 */
function logOutput(child: ChildProcess, logFile: string): (ms?: number) => Promise<void> {
  const log = createWriteStream(logFile);
  log.on('error', () => undefined); // a log that cannot be written must not fail the test run
  const closed = new Promise<void>((resolve) => log.once('close', () => resolve()));
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.once('close', () => log.end()); // 'close': the child's output ended, nothing more to write
  return async (ms = 2_000) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  };
}

/** How a launched process is stopped: either way, its log is closed and its scratch folder removed. */
export interface Supervised {
  /** SIGTERM, SIGKILL after `graceMs`, and wait for the exit. */
  stop(graceMs: number): Promise<void>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
}

/**
 * Tracks `child` (killed if this process ends first), writes its output to `logFile` in `dir`,
 * keeps `dir` (and says so) when the child exits unasked with a non-zero code or a signal, and
 * removes it after stop() or kill(). Exit code 0 counts as a clean shutdown, e.g. after a SIGTERM
 * the test sent itself.
 */
export function supervise(child: ChildProcess, dir: ScratchDir, logFile: string): Supervised {
  trackChild(child);
  const logClosed = logOutput(child, logFile);
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping && code !== 0) dir.keep(`exited unexpectedly (${signal ?? `exit code ${String(code)}`})`);
  });
  const stopWith = async (how: () => Promise<void>): Promise<void> => {
    stopping = true;
    await how();
    await logClosed();
    dir.release();
  };
  return {
    stop: (graceMs) => stopWith(() => stopChild(child, graceMs)),
    kill: () =>
      stopWith(async () => {
        child.kill('SIGKILL');
        await stopChild(child, 2_000);
      }),
  };
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once `child` has exited, false if it still runs after `ms`. */
export function waitForChildExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      child.removeListener('exit', onExit);
      resolve(hasExited(child));
    }, ms);
    child.once('exit', onExit);
  });
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait a little more. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (hasExited(child)) return;
  child.kill('SIGTERM');
  if (await waitForChildExit(child, graceMs)) return;
  child.kill('SIGKILL');
  if (!(await waitForChildExit(child, 5_000))) {
    throw new Error(`process ${String(child.pid)} did not exit after SIGKILL`);
  }
}

/**
 * Whether `pid` is a live process (zombies count as dead). When `marker` is given, the
 * process's command line must contain it (guards against pid reuse); where /proc is not
 * available that check is skipped.
 */
export function isPidAlive(pid: number, marker?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errorCode(err) !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ..." — comm may contain spaces/parens, the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    if (marker !== undefined) {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (!cmdline.includes(marker)) return false;
    }
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT' || code === 'ESRCH') return false;
    // No /proc (not Linux): trust kill(0).
  }
  return true;
}

/** Stop a process we only know by pid (e.g. from the state file). */
export async function stopPid(pid: number, opts: { marker?: string; graceMs?: number } = {}): Promise<void> {
  const alive = (): boolean => isPidAlive(pid, opts.marker);
  if (!alive()) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch (err) {
      if (errorCode(err) !== 'ESRCH') throw err;
    }
  };
  const waitGone = async (ms: number): Promise<boolean> => {
    const deadline = clock.now() + ms;
    while (clock.now() < deadline) {
      if (!alive()) return true;
      await sleep(100);
    }
    return !alive();
  };
  signal('SIGTERM');
  if (await waitGone(opts.graceMs ?? 10_000)) return;
  signal('SIGKILL');
  if (!(await waitGone(5_000))) throw new Error(`process ${pid} did not exit after SIGKILL`);
}
