#!/usr/bin/env node
// After `tsc -b`: makes every workspace `bin` executable and linked in node_modules/.bin, so that
// the built binaries are on the PATH of npm scripts (npm links bins at install time, before the
// build has produced them). The docs run them as `npm run -s jarvis-gateway -- …` (scripts/bin.mjs),
// never as `npx jarvis-gateway`, which could fetch a registry package of that name.
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { workspaces = [] } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const binDir = join(root, 'node_modules', '.bin');
mkdirSync(binDir, { recursive: true });
for (const ws of workspaces) {
  const pkgFile = join(root, ws, 'package.json');
  if (!existsSync(pkgFile)) continue;
  const { bin = {} } = JSON.parse(readFileSync(pkgFile, 'utf8'));
  for (const [name, target] of Object.entries(bin)) {
    const file = join(root, ws, target);
    if (!existsSync(file)) {
      console.error(`[link-bins] ${name}: ${relative(root, file)} is not built`);
      process.exitCode = 1;
      continue;
    }
    chmodSync(file, 0o755);
    const link = join(binDir, name);
    try {
      if (lstatSync(link)) unlinkSync(link);
    } catch {
      // no link yet
    }
    symlinkSync(relative(binDir, file), link);
  }
}
