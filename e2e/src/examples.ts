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
  /**
   * Every error the apiserver returns for the file, from its `# error: <field>: <message>` lines,
   * in their canonical form (see `canonicalApiserverError`); `<nil>` is the field of the error
   * that stands for the CEL rules the apiserver did not run.
   */
  readonly errors: readonly string[];
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
    const errors = [...text.matchAll(/^# error: (.+)$/gm)].map((m) => m[1]!.trim());
    if (errors.length === 0) throw new Error(`${file}: no "# error: <field>: <message>" line`);
    const manifests = loadManifests(file);
    if (manifests.length !== 1 || !manifests[0]) throw new Error(`${file}: an invalid example holds exactly one object`);
    return { file, manifest: manifests[0], errors };
  });
}

/**
 * One error of an apiserver rejection (a `* ` line of `kubectl apply`, or its only error), in the
 * canonical form the examples list and `jarvis-policy validate` prints: without the field the
 * apiserver repeats before the text of a schema check (`<field> in body should match …`).
 */
export function canonicalApiserverError(line: string): string {
  const at = line.indexOf(': ');
  const field = at > 0 ? line.slice(0, at) : '';
  return field ? line.replace(`: ${field} in body `, ': ') : line;
}

/** The errors of `kubectl apply`'s stderr for one rejected object, canonical. */
export function kubectlInvalidErrors(stderr: string): string[] {
  const m = /is invalid: (.*)$/s.exec(stderr.trim());
  if (!m) return [];
  const body = m[1]!;
  const lines =
    body.startsWith('\n') || body.startsWith('* ')
      ? body
          .split('\n')
          .filter((l) => l.startsWith('* '))
          .map((l) => l.slice(2))
      : [body];
  return lines.map((l) => canonicalApiserverError(l.trim()));
}

/**
 * The errors `jarvis-policy validate FILE` printed for the one object of FILE, canonical: each line
 * is `<file>: <Kind> <ns>/<name>: [<field>: ]<message>`, the summary line last.
 */
export function policyCliErrors(stdout: string, file: string, manifest: Manifest): string[] {
  const prefix = `${file}: ${manifest.kind} ${manifest.metadata.namespace ?? 'default'}/${manifest.metadata.name}: `;
  return stdout
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => {
      const rest = l.slice(prefix.length);
      return /^(Invalid|Required|Unsupported|Duplicate) value|^Too (many|long)|^Forbidden/.test(rest) ? `<nil>: ${rest}` : rest;
    });
}
