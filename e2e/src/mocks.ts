/** Mock upstreams (mocks/dist/main.js) as a process of their own, driven over their /__mock/ endpoints. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './paths.js';
import { stopChild, trackChild } from './util/processes.js';

export interface MockProcess {
  /** `http://127.0.0.1:<port>` of the mock named `name`. */
  url(name: string): string;
  port(name: string): number;
  /** POST /__mock/config with a partial behaviour. */
  configure(name: string, patch: Record<string, unknown>): Promise<void>;
  /** GET /__mock/stats. */
  stats(name: string): Promise<Record<string, unknown>>;
  /** GET /__mock/jobs: job id → successful servings. */
  jobs(name: string): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Starts `node mocks/dist/main.js --spec <spec>` and waits for the ports it prints. */
export async function startMockProcess(spec: { mocks: Record<string, unknown>[] }): Promise<MockProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'mocks', 'dist', 'main.js'), '--spec', JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await Promise.race([
    once(lines, 'line').then(([l]) => String(l)),
    once(child, 'exit').then(() => {
      throw new Error(`mocks exited during start: ${stderr}`);
    }),
  ]);
  lines.close();
  const parsed = JSON.parse(first) as { mocks: { name: string; port: number; url: string }[] };
  const byName = new Map(parsed.mocks.map((m) => [m.name, m]));
  const url = (name: string): string => {
    const m = byName.get(name);
    if (!m) throw new Error(`no mock ${name}`);
    return m.url;
  };
  const getJson = async (u: string): Promise<unknown> => (await fetch(u, { signal: AbortSignal.timeout(10_000) })).json();
  return {
    url,
    port: (name) => byName.get(name)?.port ?? 0,
    async configure(name, patch) {
      const res = await fetch(`${url(name)}/__mock/config`, { method: 'POST', body: JSON.stringify(patch) });
      if (res.status !== 200) throw new Error(`mock ${name}: /__mock/config answered ${res.status}: ${await res.text()}`);
    },
    stats: async (name) => (await getJson(`${url(name)}/__mock/stats`)) as Record<string, unknown>,
    jobs: async (name) => ((await getJson(`${url(name)}/__mock/jobs`)) as { completed: Record<string, number> }).completed,
    stop: () => stopChild(child, 5_000),
  };
}
