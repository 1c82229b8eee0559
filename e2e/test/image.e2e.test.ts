/**
 * The container image, checked without a Docker engine: the Dockerfile's runtime stage is laid
 * out in a folder (e2e/src/image/assemble.ts: its COPY lines, its real `npm ci --omit=dev`, its
 * symlinks), made read-only, and both binaries run from it as the image's non-root USER — the
 * gateway until it is ready on the examples, the operator until it is ready on the test
 * apiserver — by the command names the chart's Deployments use. What this cannot check: the base
 * image itself, layer caching, and the build stage (its output is taken from the repository's own
 * `tsc -b`).
 */
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureChartTools, objectsOf, render } from '../src/chart/index.js';
import { eventually } from '../src/cluster.js';
import { freePorts } from '../src/envtest/ports.js';
import { examplesDir } from '../src/examples.js';
import { assembleImage, type AssembledImage } from '../src/image/assemble.js';
import { parseDockerfile, stageNamed } from '../src/image/dockerfile.js';
import { repoRoot } from '../src/paths.js';
import { run } from '../src/util/exec.js';
import { stopChild, trackChild } from '../src/util/processes.js';

const scratch = mkdtempSync(join(tmpdir(), 'jarvis-image-'));
const children: ChildProcess[] = [];
let image: AssembledImage;
const isRoot = process.getuid?.() === 0;

/** argv that runs `file` as the image's USER (when we may switch users), with the image's ENV. */
function asImageUser(file: string, args: readonly string[]): [string, string[]] {
  if (!isRoot) return [file, [...args]];
  return ['setpriv', ['--reuid', String(image.user.uid), '--regid', String(image.user.gid), '--clear-groups', file, ...args]];
}

/** A folder the image's user can use (what the chart mounts as emptyDir). */
function volume(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  if (isRoot) chownSync(dir, image.user.uid, image.user.gid);
  return dir;
}

function start(binary: string, args: readonly string[]): ChildProcess {
  const [file, argv] = asImageUser(join(image.root, 'usr', 'local', 'bin', binary), args);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...image.env, REDIS_URL: '' } });
  trackChild(child);
  children.push(child);
  return child;
}

beforeAll(async () => {
  chmodSync(scratch, 0o755);
  image = await assembleImage({ context: repoRoot, out: join(scratch, 'rootfs') });
  // Read-only root filesystem: nothing of the image is writable (as the image's user).
  await run('chmod', ['-R', 'a-w', image.root], { timeoutMs: 60_000 });
}, 600_000);

afterAll(async () => {
  for (const child of children) await stopChild(child, 10_000).catch(() => undefined);
  await run('chmod', ['-R', 'u+w', scratch], { timeoutMs: 60_000 }).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
});

describe('Dockerfile', () => {
  const file = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));

  it('is multi-stage: a build stage, and a runtime stage with production dependencies only and a non-root user', () => {
    expect(file.stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    const runtime = stageNamed(file, 'runtime');
    expect(runtime.instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(i.args))).toBe(true);
    expect(runtime.instructions.some((i) => i.op === 'RUN' && /\btsc\b/.test(i.args))).toBe(false);
    expect(image.user.uid).toBeGreaterThan(0);
    console.log(`[image] runtime stage laid out: ${image.log.join(' | ')}`);
  });

  it('holds both binaries under the names the chart runs, and only production dependencies', async () => {
    const tools = await ensureChartTools();
    const commands = objectsOf(await render(tools.helm))
      .filter((o) => o.kind === 'Deployment')
      .flatMap(
        (o) => (o as unknown as { spec: { template: { spec: { containers: { command: string[] }[] } } } }).spec.template.spec.containers,
      )
      .map((c) => c.command[0]);
    expect(commands.sort()).toEqual(['jarvis-gateway', 'jarvis-operator']);
    for (const command of commands) {
      const { stdout } = await run(...asImageUser(join(image.root, 'usr', 'local', 'bin', command ?? ''), ['--help']), {
        timeoutMs: 20_000,
      });
      expect(stdout).toContain(`Usage: ${command}`);
    }
    const modules = join(image.root, image.workdir, 'node_modules');
    for (const dev of ['typescript', 'vitest', 'eslint', 'prettier']) {
      expect(() => readFileSync(join(modules, dev, 'package.json')), dev).toThrow();
    }
  });

  it('runs the gateway read-only as its user: ready on the examples, writing only to its volumes', async () => {
    const [port, admin] = await freePorts(2);
    const config = volume('config');
    for (const f of ['01-gateway.yaml', '10-services.yaml', '20-httproutes.yaml', '30-ratelimitpolicies.yaml'])
      copyFileSync(join(examplesDir, f), join(config, f));
    const state = volume('state');
    const child = start('jarvis-gateway', [
      '--config',
      config,
      '--listen',
      `127.0.0.1:${port}`,
      '--admin-listen',
      `127.0.0.1:${admin}`,
      '--state-dir',
      state,
    ]);
    let output = '';
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    await eventually(
      'the gateway from the image ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${output}`);
        const res = await fetch(`http://127.0.0.1:${admin}/readyz`);
        return res.status === 200 ? true : undefined;
      },
      20_000,
    );
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/chat`, { method: 'POST', body: '{}' });
    await res.arrayBuffer();
    expect(res.status).toBe(503); // no endpoints for chat-api here: the gateway answers itself
    // Its binary runs Node with the gateway's flags, the shebang's (README: the memory reducer off,
    // a young generation of two 32 MB semi-spaces held for good).
    const shebang = readFileSync(join(repoRoot, 'dataplane', 'src', 'main.ts'), 'utf8').split('\n', 1)[0] ?? '';
    const flags = shebang.split(' ').filter((w) => w.startsWith('--'));
    expect(flags).toEqual(['--no-memory-reducer', '--min-semi-space-size=32', '--max-semi-space-size=32']);
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    expect(argv.slice(1, 1 + flags.length)).toEqual(flags);
  });

  it('runs the operator read-only as its user: ready on the test apiserver', async () => {
    const [xds, health] = await freePorts(2);
    const dir = volume('operator');
    const kubeconfig = join(dir, 'kubeconfig');
    copyFileSync(inject('kubeconfig'), kubeconfig);
    chmodSync(kubeconfig, 0o644);
    const child = start('jarvis-operator', [
      '--kubeconfig',
      kubeconfig,
      '--xds-listen',
      `127.0.0.1:${xds}`,
      '--health-listen',
      `127.0.0.1:${health}`,
      '--lease-name',
      'jarvis-image-e2e',
      '--lease-namespace',
      'default',
      '--id',
      'image-e2e',
    ]);
    let output = '';
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    await eventually(
      'the operator from the image ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${output}`);
        const res = await fetch(`http://127.0.0.1:${health}/readyz`);
        return res.status === 200 ? true : undefined;
      },
      30_000,
    );
  });
});
