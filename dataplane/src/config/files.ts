/**
 * Standalone mode: the same YAML manifests as examples/ (Gateway API objects, Services,
 * EndpointSlices and our policies), through the same translator as the operator. A change on
 * disk is reloaded; an invalid change (a policy that is not accepted, an object that does not
 * parse, a config the gateway cannot compile) is logged, counted and ignored.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CONTROLLER_NAME, translate } from '@jarvis/api';
import yaml from 'js-yaml';
import type { Timers, TimerHandle } from '../clock.js';
import type { ApplyConfig, GatewayConfig } from './types.js';

export class ConfigError extends Error {}

/** The folder's entries, or a ConfigError that says what is wrong with the folder. */
async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT'
        ? 'no such directory'
        : code === 'ENOTDIR'
          ? 'not a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (err as Error).message;
    throw new ConfigError(
      `--config ${dir}: ${what}; it wants a folder of manifests like examples/ (a GatewayClass and Gateway of ours, HTTPRoutes, Services, EndpointSlices, policies)`,
    );
  }
}

/** Reads and translates a directory of manifests into one gateway's config. */
export async function loadConfigDir(dir: string, gatewayId?: string): Promise<GatewayConfig> {
  const names = (await listDir(dir)).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
  const objects: unknown[] = [];
  for (const name of names) {
    const text = await readFile(join(dir, name), 'utf8');
    try {
      for (const doc of yaml.loadAll(text)) if (doc !== null && doc !== undefined) objects.push(doc);
    } catch (err) {
      throw new ConfigError(`${name}: not valid YAML: ${(err as Error).message}`);
    }
  }
  const result = translate({ objects }, { controllerName: CONTROLLER_NAME });
  const problems = [
    ...result.problems.map((p) => `${p.kind ?? 'object'} ${p.namespace ?? ''}/${p.name ?? '?'}: ${p.path}: ${p.message}`),
    ...result.policies
      .filter((p) => !p.accepted.status && (p.accepted.reason === 'Invalid' || p.accepted.reason === 'Conflicted'))
      .map((p) => `${p.ref.kind} ${p.ref.namespace}/${p.ref.name}: ${p.accepted.reason}: ${p.accepted.message}`),
  ];
  if (problems.length > 0)
    throw new ConfigError(
      `the manifests in ${dir} have ${problems.length} problem${problems.length === 1 ? '' : 's'} (jarvis-policy validate lists them with their files): ${problems.join('; ')}`,
    );
  const gateways = result.ir.gateways;
  const gateway = gatewayId ? gateways.find((g) => g.id === gatewayId) : gateways.length === 1 ? gateways[0] : undefined;
  if (!gateway) {
    const ours = `a GatewayClass with controllerName ${CONTROLLER_NAME} and a Gateway of that class (see examples/01-gateway.yaml)`;
    const known = gateways.map((g) => g.id).join(', ');
    throw new ConfigError(
      gateways.length === 0
        ? `no Gateway of ours in ${dir} (${names.length} manifest file${names.length === 1 ? '' : 's'}): the folder needs ${ours}`
        : gatewayId
          ? `no Gateway ${gatewayId} of ours in ${dir} (it has ${known}): check --gateway NAMESPACE/NAME`
          : `${dir} has several Gateways of ours (${known}): pick one with --gateway NAMESPACE/NAME`,
    );
  }
  const used = new Set<string>();
  for (const r of gateway.routes) {
    for (const b of r.backends) used.add(b.backend);
    for (const s of r.degradation?.fallback?.chain ?? []) if (s.backend) used.add(s.backend);
  }
  const backends = result.ir.backends.filter((b) => used.has(b.id));
  const version = createHash('sha256').update(JSON.stringify({ gateway, backends })).digest('hex').slice(0, 16);
  return { gateway, backends, source: 'file', version: `file-${version}` };
}

export interface FileSourceEvents {
  applied(config: GatewayConfig): void;
  /** The directory could not be loaded (a config that `apply` refuses is reported by `apply`). */
  rejected(error: string): void;
}

/** Watches the directory and applies every valid change. */
export class FileSource {
  #watcher: FSWatcher | undefined;
  #timer: TimerHandle | undefined;

  constructor(
    private readonly dir: string,
    private readonly gatewayId: string | undefined,
    private readonly apply: ApplyConfig,
    private readonly timers: Timers,
    private readonly events: FileSourceEvents,
  ) {}

  /** Loads once; throws when the first config is invalid (the gateway cannot start on it). */
  async start(): Promise<GatewayConfig> {
    const config = await loadConfigDir(this.dir, this.gatewayId);
    const applied = this.apply(config);
    if (!applied.ok) throw new ConfigError(applied.error);
    this.events.applied(config);
    this.#watcher = watch(this.dir, () => this.#schedule());
    return config;
  }

  #schedule(): void {
    this.#timer?.cancel();
    this.#timer = this.timers.after(200, () => void this.reload());
  }

  async reload(): Promise<void> {
    try {
      const config = await loadConfigDir(this.dir, this.gatewayId);
      if (this.apply(config).ok) this.events.applied(config);
    } catch (err) {
      this.events.rejected(err instanceof Error ? err.message : String(err));
    }
  }

  stop(): void {
    this.#watcher?.close();
    this.#timer?.cancel();
  }
}
