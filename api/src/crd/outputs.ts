/** Every generated file of the repository, by path relative to the repository root. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { renderCrds } from './render.js';
import { renderReference } from './reference.js';

export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [name, content] of renderCrds()) files.set(`crds/${name}`, content);
  files.set('docs/crd-reference.md', renderReference());
  return files;
}

export interface Drift {
  /** Generated files that are missing or differ on disk. */
  readonly changed: readonly string[];
  /** CRD files on disk that no kind generates any more. */
  readonly orphaned: readonly string[];
}

/** Compares the files under `root` with what the schemas generate. */
export function findDrift(root: string, files: ReadonlyMap<string, string> = generatedFiles()): Drift {
  const changed: string[] = [];
  for (const [rel, content] of files) {
    const path = join(root, rel);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== content) changed.push(rel);
  }
  const crdDir = join(root, 'crds');
  const orphaned = existsSync(crdDir)
    ? readdirSync(crdDir)
        .filter((name) => name.endsWith('.yaml') && !files.has(`crds/${name}`))
        .map((name) => `crds/${name}`)
    : [];
  return { changed, orphaned };
}
