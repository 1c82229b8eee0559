/**
 * The last good config on disk, so that a gateway restarts without the operator. Written
 * atomically (temp file + rename); read back through the same validation as xDS input.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateBackendResource, validateGatewayResource, type BackendIR } from '@jarvis/api';
import type { GatewayConfig } from './types.js';

const FILE = 'last-good-config.json';

export interface PersistedConfig {
  readonly config: GatewayConfig;
  /** xDS versions per type URL, so a reconnecting client can resume without a resend. */
  readonly versions: Readonly<Record<string, string>>;
}

export async function saveState(dir: string, config: GatewayConfig, versions: Readonly<Record<string, string>>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `${FILE}.tmp-${process.pid}`);
  await writeFile(tmp, JSON.stringify({ gateway: config.gateway, backends: config.backends, version: config.version, versions }));
  await rename(tmp, join(dir, FILE));
}

/** The persisted config, or undefined when there is none; a damaged file is an error. */
export async function loadState(dir: string): Promise<PersistedConfig | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const raw = JSON.parse(text) as { gateway?: unknown; backends?: unknown; version?: unknown; versions?: unknown };
  const gateway = validateGatewayResource(raw.gateway);
  if (!gateway.ok) throw new Error(`${FILE}: ${gateway.errors.join('; ')}`);
  const backends: BackendIR[] = [];
  for (const b of Array.isArray(raw.backends) ? raw.backends : []) {
    const checked = validateBackendResource(b);
    if (!checked.ok) throw new Error(`${FILE}: ${checked.errors.join('; ')}`);
    backends.push(checked.backend);
  }
  const versions: Record<string, string> = {};
  if (typeof raw.versions === 'object' && raw.versions !== null)
    for (const [k, v] of Object.entries(raw.versions)) if (typeof v === 'string') versions[k] = v;
  return {
    config: { gateway: gateway.gateway, backends, source: 'state', version: typeof raw.version === 'string' ? raw.version : 'state' },
    versions,
  };
}
