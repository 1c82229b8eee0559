#!/usr/bin/env node
/**
 * Writes crds/*.yaml (and their copy in charts/jarvis-stability/crds/) and docs/crd-reference.md
 * from the schemas in api/src/schema/. With --check it writes nothing and exits 1 when a committed
 * file differs from what the schemas produce.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findDrift, generatedFiles } from '../crd/outputs.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const files = generatedFiles();
const { changed, orphaned } = findDrift(root, files);

if (process.argv.includes('--check')) {
  if (changed.length + orphaned.length > 0) {
    console.error(`Generated files are out of date: ${[...changed, ...orphaned].join(', ')}`);
    console.error('Run `npm run generate` and commit the result.');
    process.exit(1);
  }
  console.log('generated files are up to date');
} else {
  for (const rel of changed) {
    const path = join(root, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, files.get(rel) ?? '');
  }
  for (const rel of orphaned) rmSync(join(root, rel));
  const touched = [...changed, ...orphaned];
  console.log(touched.length === 0 ? 'generated files are up to date' : `updated ${touched.join(', ')}`);
}
