import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RetainedObject } from '@jarvis/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualTime } from '../clock.js';
import { ConfigError, ConfigLoader, FileSource, loadConfigDir } from './files.js';
import { MAX_CONFIG_FILE_BYTES } from './read.js';
import type { GatewayConfig } from './types.js';

const manifests = (requests: number, extra = '', routePath = '{ type: PathPrefix, value: / }') => `apiVersion: gateway.networking.k8s.io/v1
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
  rules: [{ matches: [{ path: ${routePath} }], backendRefs: [{ name: svc, port: 80 }] }]
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

  /** A FileSource on the same thread (the worker is exercised end to end), with what it reported. */
  const source = (dir: string, time = new ManualTime()) => {
    const applied: GatewayConfig[] = [];
    const rejected: string[] = [];
    const retained: RetainedObject[] = [];
    const notices: string[] = [];
    const files = new FileSource(
      dir,
      undefined,
      (c) => (applied.push(c), { ok: true }),
      time,
      {
        applied: () => {},
        rejected: (e) => rejected.push(e),
        retained: (r) => retained.push(r),
        notice: (level, m) => notices.push(`${level}: ${m}`),
      },
      new ConfigLoader(dir, undefined),
    );
    return { files, applied, rejected, retained, notices, time };
  };
  const limitOf = (c: GatewayConfig | undefined) => c?.gateway.routes[0]?.rateLimit?.levels[0]?.limit;
  const pathOf = (c: GatewayConfig | undefined) => c?.gateway.routes[0]?.matches[0]?.path.value;

  it('ignores a folder that cannot be loaded (keeping the previous config) and applies the next valid one', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), manifests(10));
    const s = source(dir);
    await s.files.start();
    writeFileSync(join(dir, 'b.yaml'), 'kind: [unclosed');
    await s.files.reload();
    expect(s.applied).toHaveLength(1);
    expect(s.rejected[0]).toContain('b.yaml: not valid YAML');
    writeFileSync(join(dir, 'b.yaml'), '');
    writeFileSync(join(dir, 'a.yaml'), manifests(20));
    await s.files.reload();
    expect(limitOf(s.applied.at(-1))).toBe(20);
    await s.files.stop();
  });

  it('keeps serving the previous version of an object whose edit is invalid, and applies the rest of the change', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), manifests(10, '', '{ type: RegularExpression, value: "/api/v[0-9]+" }'));
    const s = source(dir);
    await s.files.start();
    // The route's pattern breaks, the policy's limit changes: the limit applies, the route stays as it was.
    writeFileSync(join(dir, 'a.yaml'), manifests(30, '', '{ type: RegularExpression, value: "/api/(?!admin)" }'));
    await s.files.reload();
    expect(s.rejected).toEqual([]);
    expect(s.applied).toHaveLength(2);
    expect(pathOf(s.applied[1])).toBe('/api/v[0-9]+');
    expect(limitOf(s.applied[1])).toBe(30);
    expect(s.retained).toEqual([expect.objectContaining({ kind: 'HTTPRoute', namespace: 'ns', name: 'r', fresh: true })]);
    expect(s.retained[0]?.reason).toContain('invalid regular expression "/api/(?!admin)"');
    // An invalid policy edit: the previous limit keeps applying; nothing new to apply.
    writeFileSync(join(dir, 'a.yaml'), manifests(30, ', burst: 2', '{ type: RegularExpression, value: "/api/(?!admin)" }'));
    await s.files.reload();
    expect(s.applied).toHaveLength(2);
    expect(s.retained.map((r) => r.kind)).toEqual(['HTTPRoute', 'RateLimitPolicy']); // the route's rejection is not reported again
    writeFileSync(join(dir, 'a.yaml'), manifests(40, '', '{ type: PathPrefix, value: /v2 }'));
    await s.files.reload();
    expect([pathOf(s.applied.at(-1)), limitOf(s.applied.at(-1))]).toEqual(['/v2', 40]);
    await s.files.stop();
  });

  it('refuses a new object that cannot be served (nothing earlier to fall back on)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), manifests(10));
    const s = source(dir);
    await s.files.start();
    writeFileSync(
      join(dir, 'b.yaml'),
      'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: new, namespace: ns }\nspec:\n  parentRefs: [{ name: gw }]\n  rules: [{ matches: [{ path: { type: RegularExpression, value: "(a)\\\\1" } }], backendRefs: [{ name: svc, port: 80 }] }]\n',
    );
    await s.files.reload();
    expect(s.applied).toHaveLength(1);
    expect(s.rejected[0]).toMatch(/HTTPRoute ns\/new: UnsupportedValue: .*invalid regular expression/);
    await s.files.stop();
  });

  it('refuses an alias bomb and a file over the size bound, naming the file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), manifests(10));
    const s = source(dir);
    await s.files.start();
    const bomb = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) bomb.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(',')}]`);
    writeFileSync(
      join(dir, 'bomb.yaml'),
      `apiVersion: stability.jarvis.io/v1alpha1\nkind: RateLimitPolicy\nmetadata: { name: bomb, namespace: ns }\n${bomb.join('\n')}\nspec: { limits: [{ name: *a8 }] }\n`,
    );
    await s.files.reload();
    expect(s.rejected[0]).toMatch(/^bomb\.yaml: aliases expand the documents beyond/);
    rmSync(join(dir, 'bomb.yaml'));
    writeFileSync(join(dir, 'huge.yaml'), Buffer.alloc(MAX_CONFIG_FILE_BYTES + 1, 0x20));
    await s.files.reload();
    expect(s.rejected[1]).toBe(`huge.yaml: larger than ${MAX_CONFIG_FILE_BYTES} bytes (${MAX_CONFIG_FILE_BYTES + 1})`);
    expect(s.applied).toHaveLength(1);
    await s.files.stop();
  });

  it('skips a FIFO (and other non-regular files) with a warning instead of waiting on it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), manifests(10));
    execFileSync('mkfifo', [join(dir, 'pipe.yaml')]);
    mkdirSync(join(dir, 'sub.yaml'));
    const s = source(dir);
    await s.files.start();
    expect(limitOf(s.applied[0])).toBe(10);
    expect(s.notices).toEqual([
      'warn: pipe.yaml: not a regular file (a FIFO, socket or device); skipped',
      'warn: sub.yaml: a folder; skipped',
    ]);
    await s.files.stop();
  });

  it('survives the folder being deleted and created again: keeps serving, says so, loads the new one', async () => {
    const parent = tempDir();
    const dir = join(parent, 'config');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yaml'), manifests(10));
    const s = source(dir);
    await s.files.start();
    rmSync(dir, { recursive: true });
    await s.files.reload(); // what the watch event schedules
    expect(s.notices).toEqual(['warn: config folder is gone; the last config keeps serving until it is back']);
    expect(s.rejected).toEqual([]);
    expect(s.time.pending()).toBe(1); // looked for again in a second
    s.time.advance(1000);
    await s.files.reload();
    expect(s.applied).toHaveLength(1);
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yaml'), manifests(50));
    s.time.advance(1000);
    await s.files.reload();
    expect(s.notices.at(-1)).toBe('info: config folder is back; watching it again');
    expect(limitOf(s.applied.at(-1))).toBe(50);
    // The new folder is watched: a change there schedules a load (a timer of the injected clock).
    expect(s.time.pending()).toBe(0);
    writeFileSync(join(dir, 'a.yaml'), manifests(60));
    await vi.waitFor(() => expect(s.time.pending()).toBe(1), { timeout: 5000, interval: 5 });
    s.time.advance(200);
    await s.files.reload();
    expect(limitOf(s.applied.at(-1))).toBe(60);
    // Replaced between two events (deleted and created at once, same inode number): the new folder is watched.
    rmSync(dir, { recursive: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yaml'), manifests(70));
    await vi.waitFor(() => expect(s.time.pending()).toBe(1), { timeout: 5000, interval: 5 });
    s.time.advance(200);
    await s.files.reload();
    expect(s.notices.at(-1)).toBe('info: config folder was replaced; watching the new one');
    expect(limitOf(s.applied.at(-1))).toBe(70);
    await s.files.stop();
  });

  it('refuses to start on an invalid directory, saying why', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), manifests(10, ', burst: 2'));
    await expect(loadConfigDir(dir)).rejects.toBeInstanceOf(ConfigError);
  });
});
