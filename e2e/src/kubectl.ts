/** kubectl, run the way a cluster admin runs it, against a given kubeconfig. */
import { CommandError, run } from './util/exec.js';

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Kubectl {
  /** Runs kubectl; a non-zero exit is returned, not thrown. */
  (args: readonly string[], options?: { readonly input?: string }): Promise<KubectlResult>;
  /** Runs kubectl and throws, with its stderr, unless it exits 0. */
  ok(args: readonly string[], options?: { readonly input?: string }): Promise<string>;
}

export function kubectlFor(kubeconfig: string, timeoutMs = 60_000): Kubectl {
  const call = async (args: readonly string[], options: { readonly input?: string } = {}): Promise<KubectlResult> => {
    try {
      const { stdout, stderr } = await run('kubectl', ['--kubeconfig', kubeconfig, ...args], {
        timeoutMs,
        ...(options.input !== undefined ? { input: options.input } : {}),
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      if (err instanceof CommandError) return { code: err.exitCode ?? -1, stdout: err.stdout, stderr: err.stderr };
      throw err;
    }
  };
  const ok = async (args: readonly string[], options: { readonly input?: string } = {}): Promise<string> => {
    const result = await call(args, options);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
    return result.stdout;
  };
  return Object.assign(call, { ok });
}
