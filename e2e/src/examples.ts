/** The manifests of examples/: the valid platform set and the invalid ones with what they get wrong. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { repoRoot } from './paths.js';

export const examplesDir = join(repoRoot, 'examples');
export const invalidDir = join(examplesDir, 'invalid');

export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
}

export interface InvalidExample {
  readonly file: string;
  readonly manifest: Manifest;
  /** The field path the rejection must name, from the file's `# expect:` line. */
  readonly expectField: string;
}

function isManifest(doc: unknown): doc is Manifest {
  if (typeof doc !== 'object' || doc === null) return false;
  const m = doc as Record<string, unknown>;
  const meta = m.metadata as Record<string, unknown> | undefined;
  return typeof m.apiVersion === 'string' && typeof m.kind === 'string' && typeof meta?.name === 'string';
}

export function loadManifests(file: string): Manifest[] {
  const docs = yaml.loadAll(readFileSync(file, 'utf8')).filter((d) => d !== null && d !== undefined);
  return docs.map((doc, i) => {
    if (!isManifest(doc)) throw new Error(`${file}: document ${i + 1} is not a Kubernetes object`);
    return doc;
  });
}

const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));

export function validExampleFiles(): string[] {
  return yamlFiles(examplesDir);
}

export function invalidExamples(): InvalidExample[] {
  return yamlFiles(invalidDir).map((file) => {
    const text = readFileSync(file, 'utf8');
    const expectField = /^# expect: (\S+)$/m.exec(text)?.[1];
    if (!expectField) throw new Error(`${file}: no "# expect: <field path>" line`);
    const manifests = loadManifests(file);
    if (manifests.length !== 1 || !manifests[0]) throw new Error(`${file}: an invalid example holds exactly one object`);
    return { file, manifest: manifests[0], expectField };
  });
}
