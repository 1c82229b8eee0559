import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import { ConfigError, FileSource, loadConfigDir } from './files.js';
import type { GatewayConfig } from './types.js';

const manifests = (requests: number, extra = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: jarvis }
spec: { controllerName: stability.jarvis.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: ns }
spec:
  gatewayClassName: jarvis
  listeners: [{ name: http, protocol: HTTP, port: 8080 }]
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
---
apiVersion: stability.jarvis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: p, namespace: ns }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: r }]
  limits: [{ name: l, scope: Route, rate: { requests: ${requests}, per: 1s }${extra} }]
`;

describe('standalone config directory', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-files-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('translates the manifests with the shared translator, defaults applied', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), manifests(10));
    const config = await loadConfigDir(dir);
    expect(config.gateway.id).toBe('ns/gw');
    expect(config.gateway.routes[0]?.rateLimit?.levels[0]).toMatchObject({ limit: 10, algorithm: 'TokenBucket' });
    expect(config.backends.map((b) => b.id)).toEqual(['ns/svc:80']);
  });

  it('ignores an invalid change (keeping the previous config) and applies the next valid one', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), manifests(10));
    const applied: GatewayConfig[] = [];
    const rejected: string[] = [];
    const source = new FileSource(dir, undefined, (c) => (applied.push(c), { ok: true }), new ManualTime(), {
      applied: () => {},
      rejected: (e) => rejected.push(e),
    });
    await source.start();
    writeFileSync(join(dir, 'a.yaml'), manifests(10, ', burst: 2')); // burst below rate: Invalid
    await source.reload();
    writeFileSync(join(dir, 'b.yaml'), 'kind: [unclosed');
    await source.reload();
    expect(applied).toHaveLength(1);
    expect(rejected[0]).toContain('burst');
    expect(rejected[1]).toContain('b.yaml: not valid YAML');
    writeFileSync(join(dir, 'b.yaml'), '');
    writeFileSync(join(dir, 'a.yaml'), manifests(20));
    await source.reload();
    expect(applied.at(-1)?.gateway.routes[0]?.rateLimit?.levels[0]?.limit).toBe(20);
    source.stop();
  });

  it('refuses to start on an invalid directory, saying why', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), manifests(10, ', burst: 2'));
    await expect(loadConfigDir(dir)).rejects.toBeInstanceOf(ConfigError);
  });
});
