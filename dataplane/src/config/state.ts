/**
 * The last good config on disk, so that a gateway restarts without the operator. Written
 * atomically (temp file + rename); read back through the same validation as xDS input: the
 * envelope exactly as written here, every backend and the gateway through the IR's schema and
 * invariants, and no route naming a backend the file does not hold. Anything else — a damaged,
 * truncated, hand-edited or oversized file — is an error, and the gateway starts without it
 * (never with a part of it, such as zero backends).
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateBackendResource, validateGatewayResource, type BackendIR } from '@jarvis/api';
import type { GatewayConfig } from './types.js';

const FILE = 'last-good-config.json';
/** Larger than any config this gateway writes. */
export const MAX_STATE_BYTES = 256 * 1024 * 1024;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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

/** The persisted config, or undefined when there is none; a file that is not exactly a valid one is an error. */
export async function loadState(dir: string): Promise<PersistedConfig | undefined> {
  const path = join(dir, FILE);
  let text: string;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error(`${FILE}: not a regular file`);
    if (s.size > MAX_STATE_BYTES) throw new Error(`${FILE}: larger than ${MAX_STATE_BYTES} bytes`);
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const fail = (why: string): never => {
    throw new Error(`${FILE}: ${why}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(raw)) return fail('not a JSON object');
  for (const key of Object.keys(raw)) if (!['gateway', 'backends', 'version', 'versions'].includes(key)) fail(`unknown field ${key}`);
  if (!Array.isArray(raw.backends)) return fail('backends: must be a list');
  if (typeof raw.version !== 'string' || raw.version === '') return fail('version: must be a non-empty string');
  if (!isRecord(raw.versions)) return fail('versions: must be an object');
  const versions: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.versions)) versions[k] = typeof v === 'string' ? v : fail(`versions.${k}: must be a string`);
  const backends: BackendIR[] = [];
  for (const [i, b] of raw.backends.entries()) {
    const checked = validateBackendResource(b);
    if (!checked.ok) return fail(`backends[${i}]: ${checked.errors.slice(0, 5).join('; ')}`);
    backends.push(checked.backend);
  }
  const gateway = validateGatewayResource(raw.gateway);
  if (!gateway.ok) return fail(gateway.errors.slice(0, 5).join('; '));
  const known = new Set(backends.map((b) => b.id));
  const missing = gateway.gateway.routes.flatMap((r) => r.backends.map((b) => b.backend)).filter((id) => !known.has(id));
  if (missing.length > 0) return fail(`gateway references unknown backends: ${[...new Set(missing)].join(', ')}`);
  return { config: { gateway: gateway.gateway, backends, source: 'state', version: raw.version }, versions };
}
