/** Long-running child processes of the workbench (mocks, bare proxy) that announce themselves with a JSON line. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import { stopChild, trackChild } from '@jarvis/e2e/dist/util/processes.js';

export interface Service<T> {
  readonly child: ChildProcess;
  /** The first stdout line, parsed. */
  readonly info: T;
  /** SIGTERM, then SIGKILL after the grace time. */
  stop(): Promise<void>;
}

/**
 * Runs `node ...nodeFlags script ...args` and waits for its first stdout line (JSON). stderr is
 * passed through with a prefix; the child is killed if this process exits or is interrupted.
 */
export function startJsonService<T>(
  script: string,
  args: readonly string[],
  opts: { name: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; nodeFlags?: readonly string[] },
): Promise<Service<T>> {
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  trackChild(child);
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[${opts.name}] ${chunk.toString('utf8')}`));
  const stop = (): Promise<void> => stopChild(child, 5_000);
  return new Promise<Service<T>>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(
      () => fail(new Error(`${opts.name} printed nothing within ${opts.timeoutMs ?? 10_000} ms`)),
      opts.timeoutMs ?? 10_000,
    );
    const fail = (err: Error): void => {
      clearTimeout(timer);
      lines.close();
      void stop().finally(() => reject(err));
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      fail(new Error(`${opts.name} exited (${signal ?? String(code)}) before it was ready`));
    child.once('exit', onExit);
    child.once('error', fail);
    lines.once('line', (line) => {
      clearTimeout(timer);
      child.removeListener('exit', onExit);
      lines.close();
      child.stdout?.resume();
      try {
        resolve({ child, info: JSON.parse(line) as T, stop });
      } catch {
        fail(new Error(`${opts.name} printed ${line.slice(0, 200)} instead of a JSON line`));
      }
    });
  });
}
