#!/usr/bin/env node
// `npm run -s <binary> -- ARGS`: runs one of the workspaces' binaries (jarvis-gateway,
// jarvis-operator, jarvis-policy, jarvis-mocks) from this checkout — never a package of that name
// from the registry, which is what `npx <name>` could fetch. Installs the npm dependencies and
// builds first when that has not been done (a fresh clone); relative paths in ARGS are read from
// the folder npm was started in.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDeps } from './ensure-deps.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);

/** binary name → its file, from the workspaces' package.json `bin` fields. */
function workspaceBins() {
  const { workspaces = [] } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const bins = new Map();
  for (const ws of workspaces) {
    const file = join(root, ws, 'package.json');
    if (!existsSync(file)) continue;
    const { bin = {} } = JSON.parse(readFileSync(file, 'utf8'));
    for (const [bin_, target] of Object.entries(bin)) bins.set(bin_, join(root, ws, target));
  }
  return bins;
}

const bins = workspaceBins();
const target = name === undefined ? undefined : bins.get(name);
if (target === undefined) {
  console.error(`[jarvis] usage: node scripts/bin.mjs NAME [ARGS…] with NAME one of ${[...bins.keys()].sort().join(', ')}`);
  process.exit(2);
}
if (!existsSync(target)) {
  ensureDeps();
  console.error(`[jarvis] ${name} is not built yet: building (npm run build)`);
  const built = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (built.status !== 0 || !existsSync(target)) {
    console.error('[jarvis] npm run build failed');
    process.exit(1);
  }
}
// npm runs scripts in the package root; the user's paths are relative to where they typed.
if (process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
// A binary whose shebang gives Node flags (`#!/usr/bin/env -S node --no-memory-reducer`: the
// gateway) runs as a child with them, as its installed binary does; any other runs in this process.
const shebang = /^#!\/usr\/bin\/env -S node((?: --[a-z0-9-]+(?:=\S+)?)*)\s*$/.exec(readFileSync(target, 'utf8').split('\n', 1)[0]);
const nodeFlags = shebang?.[1] ? shebang[1].trim().split(' ') : [];
if (nodeFlags.length > 0) {
  const child = spawn(process.execPath, [...nodeFlags, target, ...args], { stdio: 'inherit' });
  // Ctrl-C reaches the child from the terminal itself (same process group): wait for it to drain.
  process.on('SIGINT', () => {});
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
} else {
  process.argv = [process.argv[0], target, ...args];
  await import(pathToFileURL(target).href);
}
