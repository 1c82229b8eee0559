/** helm, run the way an admin runs it on the chart of the repository. */
import yaml from 'js-yaml';

import { chartDir } from '../paths.js';
import { CommandError, run } from '../util/exec.js';
import { isRecord } from '../util/guards.js';

/** The release name and namespace the tests render with (the golden files depend on them). */
export const RELEASE = 'jarvis-stability';
export const RELEASE_NAMESPACE = 'jarvis-system';

export interface RenderOptions {
  /** A values file (`-f`). */
  values?: string;
  /** `--set` assignments. */
  set?: readonly string[];
  /** `--include-crds`: the chart's crds/ first, as `helm install` applies them. */
  includeCrds?: boolean;
  release?: string;
  namespace?: string;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function helm(bin: string, args: readonly string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(bin, args, { timeoutMs: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    if (err instanceof CommandError) return { code: err.exitCode ?? -1, stdout: err.stdout, stderr: err.stderr };
    throw err;
  }
}

function renderArgs(o: RenderOptions): string[] {
  const args = ['template', o.release ?? RELEASE, chartDir, '--namespace', o.namespace ?? RELEASE_NAMESPACE];
  if (o.values !== undefined) args.push('--values', o.values);
  for (const s of o.set ?? []) args.push('--set', s);
  if (o.includeCrds) args.push('--include-crds');
  return args;
}

/** `helm template`; a non-zero exit is returned, not thrown. */
export function helmTemplate(bin: string, o: RenderOptions = {}): Promise<HelmResult> {
  return helm(bin, renderArgs(o));
}

/** `helm template` that must succeed: its output. */
export async function render(bin: string, o: RenderOptions = {}): Promise<string> {
  const r = await helmTemplate(bin, o);
  if (r.code !== 0) throw new Error(`helm ${renderArgs(o).join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * `helm install --dry-run=server` of the chart's defaults into namespace `default` of a cluster:
 * the apiserver validates every object (nothing is created); the output ends with NOTES.txt.
 */
export function helmInstallDryRun(bin: string, kubeconfig: string): Promise<HelmResult> {
  return helm(bin, ['install', RELEASE, chartDir, '--namespace', 'default', '--kubeconfig', kubeconfig, '--dry-run=server']);
}

/** `helm lint --strict` of the chart, with a values file or the defaults. */
export function helmLint(bin: string, values?: string): Promise<HelmResult> {
  return helm(bin, ['lint', '--strict', chartDir, ...(values !== undefined ? ['--values', values] : [])]);
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The objects of a rendered manifest stream, in order. */
export function objectsOf(text: string): K8sObject[] {
  return yaml.loadAll(text).filter((doc): doc is K8sObject => {
    if (doc === null || doc === undefined) return false;
    if (!isRecord(doc) || typeof doc['kind'] !== 'string' || !isRecord(doc['metadata']))
      throw new Error('a rendered document is not an object');
    return true;
  });
}

/** The one object of a kind (and name, if given); throws when there is not exactly one. */
export function only(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as K8sObject;
}
