import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';

import { errorCode } from './guards.js';
import { trackChild } from './processes.js';

export interface RunOptions {
  /** Kill the command (SIGKILL) after this long. */
  timeoutMs: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin (stdin is closed otherwise). */
  input?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

const MAX_CAPTURE = 16 * 1024 * 1024;

/** Error of a command that failed; keeps its output for callers that want to inspect it. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/**
 * Runs `file` with an argument array (never through a shell), captures stdout/stderr and
 * fails with a message naming the command, its exit status and the tail of its stderr.
 */
export function run(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const shown = [file, ...args].join(' ');
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) trackChild(child); // killed if we are interrupted
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < MAX_CAPTURE) stdout += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < MAX_CAPTURE) stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      const hint = errorCode(err) === 'ENOENT' ? ` (is \`${file}\` installed and on PATH?)` : '';
      reject(new CommandError(`cannot run ${file}: ${err.message}${hint}`, stdout, stderr, null));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && !timedOut) {
        resolve({ stdout, stderr });
        return;
      }
      const status = timedOut ? `timed out after ${opts.timeoutMs} ms` : signal ? `killed by ${signal}` : `exit code ${String(code)}`;
      const detail = tail(stderr, 20) || tail(stdout, 20);
      reject(new CommandError(`\`${shown}\` failed (${status})${detail ? `:\n${detail}` : ''}`, stdout, stderr, code));
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {
        /* reported through 'close' */
      });
      child.stdin.end(opts.input);
    }
  });
}

/** Absolute path of `name` found on PATH, or undefined. */
export async function which(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}
