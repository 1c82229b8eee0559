/** Every generated file of the repository, by path relative to the repository root. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { renderCrds } from './render.js';
import { renderReference } from './reference.js';

/** Folders that hold the CRDs: the repository's, and the Helm chart's copy (helm installs crds/ first). */
export const CRD_DIRS = ['crds', 'charts/jarvis-stability/crds'] as const;

export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [name, content] of renderCrds()) for (const dir of CRD_DIRS) files.set(`${dir}/${name}`, content);
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
  const orphaned = CRD_DIRS.flatMap((dir) =>
    existsSync(join(root, dir))
      ? readdirSync(join(root, dir))
          .filter((name) => name.endsWith('.yaml') && !files.has(`${dir}/${name}`))
          .map((name) => `${dir}/${name}`)
      : [],
  );
  return { changed, orphaned };
}
