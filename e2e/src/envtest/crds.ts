import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import yaml from 'js-yaml';

import { clock, since } from '../clock.js';
import { repoCrdsDir } from '../paths.js';
import { run } from '../util/exec.js';
import { errorCode, getArray, getRecord, getString, isRecord } from '../util/guards.js';
import { pollUntil } from '../util/poll.js';
import { type ApiEndpoint, endpointFromKubeconfig, request } from './client.js';

/** Anything with an admin kubeconfig; a ControlPlane also carries its endpoint. */
export type KubeTarget = { kubeconfig: string } & Partial<ApiEndpoint>;

/** A CRD found in a manifest: what discovery must list before it is usable. */
export interface CrdRef {
  name: string;
  group: string;
  /** Served versions. */
  versions: string[];
  plural: string;
  file: string;
}

export interface InstallCrdsOptions {
  log?: (line: string) => void;
  /** Budget for discovery to list every plural (default 30 s). */
  discoveryTimeoutMs?: number;
  /** Budget of each kubectl apply call (default 120 s). */
  applyTimeoutMs?: number;
  /**
   * Files applied the way `kubectl apply -f` does it (client-side, with the last-applied
   * annotation), so that a user's later `kubectl apply -f crds/` neither warns nor conflicts;
   * the others server-side. Default: the files of the repository's crds/ folder.
   */
  clientSide?: (file: string) => boolean;
}

const inRepoCrds = (file: string): boolean => path.dirname(path.resolve(file)) === path.resolve(repoCrdsDir);

const FIELD_MANAGER = 'jarvis-envtest';

function isYamlFile(name: string): boolean {
  return /\.ya?ml$/i.test(name);
}

async function yamlFilesIn(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter(isYamlFile)
    .sort()
    .map((n) => path.join(dir, n));
}

/** The CRDs (and other objects) declared by a manifest file. */
export async function crdsInFile(file: string): Promise<CrdRef[]> {
  const docs = yaml.loadAll(await readFile(file, 'utf8'));
  const refs: CrdRef[] = [];
  for (const doc of docs) {
    if (!isRecord(doc) || getString(doc, 'kind') !== 'CustomResourceDefinition') continue;
    const spec = getRecord(doc, 'spec');
    const group = getString(spec, 'group');
    const plural = getString(getRecord(spec, 'names'), 'plural');
    const name = getString(getRecord(doc, 'metadata'), 'name') ?? `${plural ?? '?'}.${group ?? '?'}`;
    const versions = getArray(spec, 'versions')
      .filter((v) => isRecord(v) && v['served'] === true)
      .map((v) => getString(v, 'name'))
      .filter((v): v is string => v !== undefined);
    if (!group || !plural || versions.length === 0) {
      throw new Error(`${file}: CustomResourceDefinition ${name} lacks spec.group, spec.names.plural or a served version`);
    }
    refs.push({ name, group, versions, plural, file });
  }
  return refs;
}

const moduleDirs = new Map<string, Promise<string>>();

/** Folder of a Go module in the Go module cache (downloaded from the module proxy if needed). */
export function goModuleDir(module: string, version: string): Promise<string> {
  const key = `${module}@${version}`;
  let known = moduleDirs.get(key);
  if (!known) {
    known = (async () => {
      // Outside any module, so that a go.mod in the working directory cannot interfere.
      const scratch = await mkdtemp(path.join(os.tmpdir(), 'jarvis-gomod-'));
      try {
        const { stdout } = await run('go', ['mod', 'download', '-json', key], {
          timeoutMs: 5 * 60_000,
          cwd: scratch,
          env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
        }).catch((err: unknown) => {
          throw new Error(`cannot download ${key} with the go tool: ${err instanceof Error ? err.message : String(err)}`);
        });
        const info: unknown = JSON.parse(stdout);
        const dir = getString(info, 'Dir');
        if (!dir) throw new Error(`go mod download ${key}: no Dir in ${stdout.trim()}`);
        return dir;
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    })();
    known.catch(() => moduleDirs.delete(key));
    moduleDirs.set(key, known);
  }
  return known;
}

/** The Gateway API release whose standard CRDs the test control plane serves. */
export const GATEWAY_API_VERSION = 'v1.4.1';

/** The standard-channel Gateway API CRD manifests (config/crd/standard/*.yaml). */
export async function gatewayApiCrdFiles(version = GATEWAY_API_VERSION): Promise<string[]> {
  const dir = path.join(await goModuleDir('sigs.k8s.io/gateway-api', version), 'config', 'crd', 'standard');
  const files: string[] = [];
  for (const file of await yamlFilesIn(dir)) {
    if ((await crdsInFile(file)).length > 0) files.push(file); // skips kustomization.yaml & co.
  }
  if (files.length === 0) throw new Error(`no CRD manifests in ${dir}`);
  return files;
}

/** Every *.yaml / *.yml in <repo>/crds (none is fine). */
export function repoCrdFiles(dir = repoCrdsDir): Promise<string[]> {
  return yamlFilesIn(dir);
}

async function discoveryGetter(target: KubeTarget): Promise<(apiPath: string) => Promise<unknown>> {
  const { server, caPem, clientCertPem, clientKeyPem } = target;
  const endpoint =
    server && caPem && clientCertPem && clientKeyPem
      ? { server, caPem, clientCertPem, clientKeyPem }
      : await endpointFromKubeconfig(target.kubeconfig).catch(() => undefined);
  if (endpoint) {
    return async (apiPath) => {
      const res = await request(endpoint, 'GET', apiPath, undefined, { timeoutMs: 5_000 });
      return res.status === 200 ? res.json : undefined;
    };
  }
  // Credentials we cannot use directly (token, exec plugin…): let kubectl do it.
  return async (apiPath) => {
    try {
      const { stdout } = await run('kubectl', ['--kubeconfig', target.kubeconfig, 'get', '--raw', apiPath], {
        timeoutMs: 15_000,
      });
      return JSON.parse(stdout) as unknown;
    } catch {
      return undefined;
    }
  };
}

/**
 * Waits until discovery (`GET /apis/<group>/<version>`) lists every CRD's plural for every
 * served version — what envtest does instead of waiting on the Established condition.
 */
export async function waitForCrdsServed(target: KubeTarget, crds: readonly CrdRef[], opts: { timeoutMs?: number } = {}): Promise<void> {
  const wanted = new Map<string, Set<string>>();
  for (const crd of crds) {
    for (const version of crd.versions) {
      const key = `/apis/${crd.group}/${version}`;
      const set = wanted.get(key) ?? new Set<string>();
      set.add(crd.plural);
      wanted.set(key, set);
    }
  }
  if (wanted.size === 0) return;
  const get = await discoveryGetter(target);
  await pollUntil(
    async () => {
      const missing: string[] = [];
      await Promise.all(
        [...wanted].map(async ([apiPath, plurals]) => {
          const list = await get(apiPath).catch(() => undefined);
          const served = new Set(getArray(list, 'resources').map((r) => getString(r, 'name')));
          const absent = [...plurals].filter((p) => !served.has(p));
          if (absent.length === 0) wanted.delete(apiPath);
          else missing.push(`${apiPath}: ${absent.join(', ')}`);
        }),
      );
      return missing.length === 0 ? { done: true, value: undefined } : { done: false, reason: missing.join('; ') };
    },
    { what: 'CRDs to be served by discovery', timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 100 },
  );
}

/**
 * Applies the given manifests, then waits until discovery serves every CRD they declare; returns
 * those CRDs. Our own CRDs (crds/) go in with plain `kubectl apply`, as the README tells users to
 * apply them, so that doing it again afterwards is a quiet no-op; the Gateway API CRDs with
 * `kubectl apply --server-side --force-conflicts` (they exceed the last-applied annotation limit
 * of client-side apply, and users do not apply them from this repository).
 */
export async function installCrds(target: KubeTarget, files: readonly string[], opts: InstallCrdsOptions = {}): Promise<CrdRef[]> {
  if (files.length === 0) return [];
  const log = opts.log ?? ((): void => undefined);
  const start = clock.now();
  const crds = (await Promise.all(files.map(crdsInFile))).flat();
  const clientSide = opts.clientSide ?? inRepoCrds;
  const serverFiles = files.filter((f) => !clientSide(f));
  const clientFiles = files.filter((f) => clientSide(f));
  const timeoutMs = opts.applyTimeoutMs ?? 120_000;
  if (serverFiles.length > 0) {
    const args = ['--kubeconfig', target.kubeconfig, 'apply', '--server-side', '--force-conflicts', `--field-manager=${FIELD_MANAGER}`];
    for (const file of serverFiles) args.push('-f', file);
    await run('kubectl', args, { timeoutMs });
  }
  if (clientFiles.length > 0) {
    const args = ['--kubeconfig', target.kubeconfig, 'apply'];
    for (const file of clientFiles) args.push('-f', file);
    await run('kubectl', args, { timeoutMs });
  }
  await waitForCrdsServed(target, crds, { timeoutMs: opts.discoveryTimeoutMs ?? 30_000 });
  log(`applied ${files.length} manifest(s); ${crds.length} CRD(s) served after ${since(start)} ms`);
  return crds;
}
