#!/usr/bin/env node
/**
 * Writes crds/*.yaml and docs/crd-reference.md from the schemas. With --check it writes nothing
 * and exits 1 when a committed file differs from what the schemas produce.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../crd/outputs.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const check = process.argv.includes('--check');
const files = generatedFiles();
const stale: string[] = [];

for (const [rel, content] of files) {
  const path = join(root, rel);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (current === content) continue;
  stale.push(rel);
  if (!check) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
}
// A CRD file whose kind no longer exists is stale too.
for (const name of readdirSync(join(root, 'crds'))) {
  const rel = `crds/${name}`;
  if (name.endsWith('.yaml') && !files.has(rel)) {
    stale.push(rel);
    if (!check) rmSync(join(root, rel));
  }
}

if (check && stale.length > 0) {
  console.error(`Generated files are out of date: ${stale.join(', ')}\nRun \`npm run generate\` and commit the result.`);
  process.exit(1);
}
console.log(stale.length === 0 ? 'generated files are up to date' : `wrote ${stale.join(', ')}`);
