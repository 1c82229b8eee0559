import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `<repo>/e2e`. This module lives at e2e/src/paths.ts (run by vitest) or e2e/dist/paths.js
 * (compiled), so the package folder is always one level up.
 */
export const e2eRoot = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

/** The repository root (the npm workspace root). */
export const repoRoot = path.resolve(e2eRoot, '..');

/** The script that builds etcd and kube-apiserver into the cache. */
export const buildBinariesScript = path.join(e2eRoot, 'envtest', 'build-binaries.sh');

/** The script that builds helm and rulecheck (the chart tests' tools) into the cache. */
export const buildChartToolsScript = path.join(e2eRoot, 'envtest', 'build-chart-tools.sh');

/** The Helm chart, and the value sets of its golden tests (`<case>.in.yaml` → `<case>.out.yaml`). */
export const chartDir = path.join(repoRoot, 'charts', 'jarvis-stability');
export const chartTestdataDir = path.join(repoRoot, 'charts', 'testdata', 'jarvis-stability');

/** Our own CRDs (generated from the api package). */
export const repoCrdsDir = path.join(repoRoot, 'crds');

/**
 * Cache root shared with build-binaries.sh:
 * `$JARVIS_ENVTEST_CACHE` or `${XDG_CACHE_HOME:-~/.cache}/jarvis-stability/envtest`.
 */
export function envtestCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['JARVIS_ENVTEST_CACHE'];
  if (explicit) return path.resolve(explicit);
  const xdg = env['XDG_CACHE_HOME'];
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'jarvis-stability', 'envtest');
}
