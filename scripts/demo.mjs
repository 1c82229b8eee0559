#!/usr/bin/env node
// `npm run demo`: installs the dependencies when missing, builds, and runs the Jarvis platform
// locally — mock upstreams, the gateway in standalone mode on examples/, traffic from a few
// tenants and users, a live summary every 2 s (bench/src/demo/run.ts). Ctrl-C stops it.
//   npm run demo -- --duration 20     stop after 20 s (exit 0), e.g. as a smoke test
//   npm run demo -- --rate 60         offered requests per second (default 30)
//   REDIS_URL=redis://127.0.0.1:6379 npm run demo     Redis-backed limits
//   npm run demo -- --cluster [--duration 60]   on the test control plane: kubectl, the operator, a
//                                               gateway over xDS (bench/src/demo/cluster.ts)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDeps } from './ensure-deps.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

ensureDeps();
console.error('[demo] building (npm run build)');
if (spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' }).status !== 0) {
  console.error('[demo] npm run build failed');
  process.exit(1);
}

const { runDemo } = await import('../bench/dist/demo/run.js');
try {
  process.exit(await runDemo(process.argv.slice(2)));
} catch (err) {
  console.error(`[demo] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
