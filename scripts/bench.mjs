#!/usr/bin/env node
// `npm run bench` (about twelve minutes) and `npm run bench -- --quick` (about a minute and a half):
// builds, then measures the direct client → mock baseline, the bare pass-through proxy and the
// gateway in its configurations (routing, limits in memory, on Redis, and in the full run on Redis
// unbatched; a response cache answering every request, and missing on every request — in the full
// run also with its Redis level; a fallback chain whose primary answers 503 at once, compared with
// the routing variant that goes straight to the second tier)
// behind the same mock upstream (bench/src/suite.ts). The last line printed is one
// JSON object. Other flags: --rounds N, --rate R (fixed-rate latency, default 1000), --connections C,
// --duration S, --warmup S (load on every target before the first round), --cpus N (pin every process to N CPUs), --variants a,b (only these gateway variants).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDeps } from './ensure-deps.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

ensureDeps();
console.error('[bench] building (npm run build)');
if (spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' }).status !== 0) {
  // The gateway is written in parallel and may not compile yet: what the benchmark itself needs
  // builds without it.
  console.error('[bench] npm run build failed; building only what the benchmark needs (tsc -b mocks bench)');
  if (spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-b', 'mocks', 'bench'], { cwd: root, stdio: 'inherit' }).status !== 0)
    process.exit(1);
}

const { runBench } = await import('../bench/dist/suite.js');
try {
  const summary = await runBench(process.argv.slice(2));
  console.log(JSON.stringify(summary));
} catch (err) {
  console.error(`[bench] ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
}
