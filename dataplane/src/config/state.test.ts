import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigDir } from './files.js';
import { loadState, saveState } from './state.js';

const manifests = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: ns }
spec: { gatewayClassName: jarvis, listeners: [{ name: http, protocol: HTTP, port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: svc, namespace: ns }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: ns }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ backendRefs: [{ name: svc, port: 80 }] }]
`;

describe('persisted config (--state-dir)', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-state-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A state folder holding a valid saved config, and the file's JSON to damage. */
  async function saved(): Promise<{ dir: string; json: Record<string, unknown> }> {
    const src = tempDir();
    writeFileSync(join(src, 'a.yaml'), manifests);
    const config = await loadConfigDir(src);
    const dir = tempDir();
    await saveState(dir, config, { 'type.example/x': 'v1' });
    return { dir, json: JSON.parse(readFileSync(join(dir, 'last-good-config.json'), 'utf8')) as Record<string, unknown> };
  }

  it('reads back what it saved', async () => {
    const { dir } = await saved();
    const state = await loadState(dir);
    expect(state?.config.gateway.id).toBe('ns/gw');
    expect(state?.config.backends.map((b) => b.id)).toEqual(['ns/svc:80']);
    expect(state?.config.source).toBe('state');
    expect(state?.versions).toEqual({ 'type.example/x': 'v1' });
  });

  it('has nothing to say when there is no file', async () => {
    expect(await loadState(tempDir())).toBeUndefined();
  });

  it.each([
    ['backends that are not a list', (j: Record<string, unknown>) => ({ ...j, backends: 'nope' }), /backends: must be a list/],
    [
      'no backends while routes name one',
      (j: Record<string, unknown>) => ({ ...j, backends: [] }),
      /references unknown backends: ns\/svc:80/,
    ],
    ['a backend that is not a BackendIR', (j: Record<string, unknown>) => ({ ...j, backends: [{ id: 'ns/svc:80' }] }), /backends\[0\]: /],
    ['a gateway that is not a GatewayIR', (j: Record<string, unknown>) => ({ ...j, gateway: { id: 'ns/gw' } }), /gateway/],
    ['no version', (j: Record<string, unknown>) => ({ ...j, version: 5 }), /version: must be a non-empty string/],
    ['versions that are not strings', (j: Record<string, unknown>) => ({ ...j, versions: { a: 1 } }), /versions\.a: must be a string/],
    ['an unknown field', (j: Record<string, unknown>) => ({ ...j, extra: true }), /unknown field extra/],
    ['a JSON array', () => [], /not a JSON object/],
  ])('refuses %s', async (_what, damage, error) => {
    const { dir, json } = await saved();
    writeFileSync(join(dir, 'last-good-config.json'), JSON.stringify(damage(json)));
    await expect(loadState(dir)).rejects.toThrow(error);
  });

  it('refuses a truncated file and a FIFO in its place', async () => {
    const { dir } = await saved();
    const text = readFileSync(join(dir, 'last-good-config.json'), 'utf8');
    writeFileSync(join(dir, 'last-good-config.json'), text.slice(0, text.length / 2));
    await expect(loadState(dir)).rejects.toThrow(/not JSON/);
    rmSync(join(dir, 'last-good-config.json'));
    execFileSync('mkfifo', [join(dir, 'last-good-config.json')]);
    await expect(loadState(dir)).rejects.toThrow(/not a regular file/);
  });
});
