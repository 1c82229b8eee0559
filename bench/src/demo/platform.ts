/**
 * The Jarvis platform of examples/ on this machine, shared by both demos: which mock stands in for
 * each Service, the identity settings that trust the traffic generator's headers, the listen
 * addresses, and the gateway's hot keys for the live summary.
 */
import { join } from 'node:path';

import { isPortFree, freePort } from '@jarvis/e2e/dist/envtest/ports.js';
import { examplesDir, loadManifests } from '@jarvis/e2e/dist/examples.js';
import type { MockDef } from '@jarvis/mocks';

import { renderHotkeys } from './summary.js';

export interface ServiceRef {
  namespace: string;
  name: string;
  portName: string | undefined;
}

/** The Services of examples/ with the name of their first port. */
export function exampleServices(files: readonly string[]): ServiceRef[] {
  return files.flatMap((file) =>
    loadManifests(file)
      .filter((m) => m.kind === 'Service' && m.apiVersion === 'v1')
      .map((m) => {
        const spec = (m as { spec?: { ports?: { name?: unknown }[] } }).spec;
        const portName = spec?.ports?.[0]?.name;
        return {
          namespace: m.metadata.namespace ?? 'default',
          name: m.metadata.name,
          portName: typeof portName === 'string' ? portName : undefined,
        };
      }),
  );
}

/** Latency per LLM tier: the bigger the model, the slower (and gpt-4 fails now and then). */
const LLM_TIERS: Record<string, Partial<MockDef>> = {
  'llm-gpt-4': { latencyMs: 120, jitterMs: 80, errorRate: 0.02, streamChunkDelayMs: 15 },
  'llm-gpt-35-turbo': { latencyMs: 60, jitterMs: 40, streamChunkDelayMs: 10 },
  'llm-claude-haiku': { latencyMs: 40, jitterMs: 30, streamChunkDelayMs: 8 },
  'llm-local-model': { latencyMs: 15, jitterMs: 10, streamChunkDelayMs: 5 },
};

/** The mock standing in for a Service, chosen by its name. */
export function mockFor(service: string): MockDef {
  if (service.startsWith('llm-')) return { name: service, kind: 'llm', ...(LLM_TIERS[service] ?? { latencyMs: 50, jitterMs: 30 }) };
  if (service.includes('keyword')) return { name: service, kind: 'search', flavor: 'keyword', latencyMs: 5, jitterMs: 5 };
  if (service.includes('search') || service.includes('vector'))
    return { name: service, kind: 'search', flavor: 'vector', latencyMs: 15, jitterMs: 10 };
  return { name: service, kind: 'chat', latencyMs: 10, jitterMs: 10 };
}

/**
 * Identity settings that trust the traffic generator (and curl) on loopback as a proxy, so that
 * its x-forwarded-for, x-tenant-id and x-user-id headers are believed: examples/local/identity.yaml,
 * which the README's walkthrough by hand uses too.
 */
export const DEMO_IDENTITY_FILE = join(examplesDir, 'local', 'identity.yaml');

export async function listenAddress(wanted: string | undefined, fallbackPort: number): Promise<string> {
  if (wanted !== undefined) return wanted;
  return `127.0.0.1:${(await isPortFree(fallbackPort)) ? fallbackPort : await freePort()}`;
}

export async function hotkeys(adminUrl: string): Promise<string[]> {
  try {
    const res = await fetch(`${adminUrl}/admin/hotkeys`, { signal: AbortSignal.timeout(1_000) });
    if (res.status !== 200) return [`(GET /admin/hotkeys answered ${res.status})`];
    return renderHotkeys(await res.json());
  } catch (err) {
    return [`(GET /admin/hotkeys failed: ${err instanceof Error ? err.message : String(err)})`];
  }
}
