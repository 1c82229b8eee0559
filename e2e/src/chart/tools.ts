/**
 * The chart tests' tools: helm and rulecheck (e2e/envtest/rulecheck: Prometheus's own rule-file
 * validation and PromQL parser), built with Go from the module proxy by
 * e2e/envtest/build-chart-tools.sh into the cache beside the envtest binaries, only when missing.
 * Tests only: nothing at run time needs them.
 */
import path from 'node:path';

import { BUILD_TIMEOUT_MS, isExecutable, runBuildScript } from '../envtest/binaries.js';
import { buildChartToolsScript, envtestCacheRoot } from '../paths.js';
import { withFileLock } from '../util/lock.js';

export interface ChartTools {
  helm: string;
  rulecheck: string;
}

let pending: Promise<ChartTools> | undefined;

/** Paths of helm and rulecheck, built first when missing (minutes, once per machine). */
export function ensureChartTools(opts: { log?: (line: string) => void } = {}): Promise<ChartTools> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`[chart-tools] ${line}\n`));
  pending ??= (async () => {
    // One build at a time across processes (the script writes fixed temporary names).
    const binDir = await withFileLock(path.join(envtestCacheRoot(), 'chart-tools.lock'), () => runBuildScript(buildChartToolsScript, log), {
      timeoutMs: BUILD_TIMEOUT_MS,
      log,
      holderHint: 'another chart tools build',
    });
    const tools = { helm: path.join(binDir, 'helm'), rulecheck: path.join(binDir, 'rulecheck') };
    for (const file of Object.values(tools))
      if (!(await isExecutable(file))) throw new Error(`${buildChartToolsScript} reported ${binDir}, but ${file} is not executable there`);
    return tools;
  })().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}
