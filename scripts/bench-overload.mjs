#!/usr/bin/env node
// `npm run bench:overload` (about 4 minutes) and `npm run bench:overload -- --quick` (about 1.5
// minutes): a slow mock upstream of known capacity at 3× that load through the gateway, without a
// queue, with a fixed in-flight limit and with adaptive concurrency (bench/src/overload.ts). The
// last line printed is one JSON object. Other flags: --duration S, --load X, --slots N,
// --latency MS, --deadline MS.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDeps } from './ensure-deps.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

ensureDeps();
console.error('[overload] building (npm run build)');
if (spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' }).status !== 0) process.exit(1);

const { runOverload } = await import('../bench/dist/overload.js');
try {
  console.log(JSON.stringify(await runOverload(process.argv.slice(2))));
} catch (err) {
  console.error(`[overload] ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
}
