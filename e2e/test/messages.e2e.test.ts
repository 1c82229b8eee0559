/**
 * What a newcomer sees when something is wrong: the real binaries (operator/dist/main.js,
 * dataplane/dist/main.js) print one clear line at warn or error level that says what is wrong and
 * what to do; a process that cannot go on exits non-zero; no stack trace anywhere. Processes that
 * wait (an unknown Gateway, an unreachable operator) say why at warn level, not once per retry.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { platformYaml } from '../src/platform.js';
import { sleep } from '../src/clock.js';
import { eventually } from '../src/cluster.js';
import { gatewayMain, startGateway, type GatewayProcess } from '../src/gateway.js';
import { kubectlFor, type Kubectl } from '../src/kubectl.js';
import { operatorMain, startOperator, type OperatorProcess } from '../src/operator.js';
import { hasStackTrace, logLines, type LogLine } from '../src/util/logs.js';
import { trackChild } from '../src/util/processes.js';

const NS = 'messages-e2e';
const scratch = mkdtempSync(join(tmpdir(), 'jarvis-messages-'));

/** Runs a binary to its exit (killed after 20 s) with an environment of our choosing. */
function runToExit(
  main: string,
  args: readonly string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) clean[k] = v;
    const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: clean, cwd: scratch });
    trackChild(child);
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The process printed exactly one line, an error, containing every `parts`; no stack trace. */
function expectOneErrorLine(output: string, ...parts: readonly string[]): LogLine {
  const lines = logLines(output);
  expect(lines, output).toHaveLength(1);
  const line = lines[0] as LogLine;
  expect(line.level).toBe('error');
  for (const p of parts) expect(line.msg).toContain(p);
  expect(hasStackTrace(output), output).toBe(false);
  return line;
}

const noCluster = { KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined, REDIS_URL: undefined };

describe('processes that cannot start say why in one line and exit non-zero', () => {
  it('jarvis-operator without a kubeconfig', async () => {
    const { code, output } = await runToExit(operatorMain, ['--xds-listen', '127.0.0.1:0', '--health-listen', '127.0.0.1:0'], noCluster);
    expect(code).toBe(1);
    expectOneErrorLine(output, 'no kubeconfig', '--kubeconfig PATH', 'KUBECONFIG');
    expect(output).not.toContain('Invalid URL');
  });

  it('jarvis-operator with a kubeconfig that does not exist', async () => {
    const { code, output } = await runToExit(operatorMain, ['--kubeconfig', join(scratch, 'nope.yaml')], noCluster);
    expect(code).toBe(1);
    expectOneErrorLine(output, `kubeconfig ${join(scratch, 'nope.yaml')}`, 'no such file');
  });

  it('jarvis-gateway --config with a folder that does not exist', async () => {
    const { code, output } = await runToExit(gatewayMain, ['--config', '/nonexistent', '--listen', '127.0.0.1:0'], noCluster);
    expect(code).toBe(1);
    expectOneErrorLine(output, '--config /nonexistent: no such directory', 'examples/');
    expect(output).not.toContain('ENOENT');
  });

  it('jarvis-gateway --config with an empty folder', async () => {
    const empty = mkdtempSync(join(scratch, 'empty-'));
    const { code, output } = await runToExit(gatewayMain, ['--config', empty, '--listen', '127.0.0.1:0'], noCluster);
    expect(code).toBe(1);
    expectOneErrorLine(output, `no Gateway of ours in ${empty}`, 'GatewayClass with controllerName stability.jarvis.io/gateway-controller');
    expect(output).not.toContain('found: none');
  });

  it('jarvis-gateway whose --listen port is taken', async () => {
    const first = await startGateway({ name: 'port-holder', args: ['--xds', '127.0.0.1:1', '--gateway', 'ns/gw'], waitReady: false });
    try {
      const port = new URL(first.url).port;
      const { code, output } = await runToExit(
        gatewayMain,
        ['--xds', '127.0.0.1:1', '--gateway', 'ns/gw', '--listen', `127.0.0.1:${port}`, '--admin-listen', '127.0.0.1:0'],
        noCluster,
      );
      expect(code).toBe(1);
      const errors = logLines(output).filter((l) => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toContain(`--listen 127.0.0.1:${port}: the address is in use`);
      expect(hasStackTrace(output)).toBe(false);
    } finally {
      await first.stop();
    }
  });
});

describe('processes that wait say why at warn level, not once per retry', () => {
  let kubectl: Kubectl;
  let operator: OperatorProcess | undefined;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    kubectl = kubectlFor(inject('kubeconfig'));
    await kubectl(['create', 'namespace', NS]);
    await kubectl.ok(['apply', '-f', '-'], {
      input: `${platformYaml({ namespace: NS, gatewayClass: true, gateway: 'known', sameNamespaceRoutes: true, service: 'svc', route: 'api' })}`,
    });
    operator = await startOperator({ kubeconfig: inject('kubeconfig'), id: 'op-messages' });
  });

  afterAll(async () => {
    await gateway?.stop();
    await operator?.stop();
    await kubectl(['delete', 'httproute,gateway,service', '--all', '-n', NS, '--ignore-not-found']);
    rmSync(scratch, { recursive: true, force: true });
  });

  const log = (file: string | undefined): LogLine[] => (file ? logLines(readFileSync(file, 'utf8')) : []);

  it('the operator logs each published version with routes, policies and backends', async () => {
    const published = await eventually('a "config published" line for the known Gateway', async () =>
      log(operator?.logFile).find((l) => l.msg === 'config published' && l['gateway'] === `${NS}/known`),
    );
    expect(published).toMatchObject({ level: 'info', routes: 1, policies: 0, backends: 1, endpoints: 0 });
    expect(published['gatewayVersion']).toMatch(/^c-/);
    expect(published['backendsVersion']).toMatch(/^c-/);
  });

  it('a gateway started with a Gateway name the operator does not serve: both sides warn, once', async () => {
    gateway = await startGateway({
      name: 'unknown-gateway',
      args: ['--xds', operator?.xdsAddress ?? '', '--gateway', `${NS}/nope`],
      waitReady: false,
    });
    const opWarning = await eventually('the operator warning about the unknown Gateway', async () =>
      log(operator?.logFile).find((l) => l.level === 'warn' && l['group'] === `${NS}/nope`),
    );
    expect(opWarning.msg).toContain(`asks for Gateway ${NS}/nope, which this operator does not serve`);
    expect(opWarning['serving']).toContain(`${NS}/known`);
    const gwWarning = await eventually(
      'the gateway warning that no config arrives for its Gateway',
      async () => log(gateway?.logFile).find((l) => l.level === 'warn' && l['gateway'] === `${NS}/nope`),
      20_000,
    );
    expect(gwWarning.msg).toContain(`no config for Gateway ${NS}/nope from the operator`);
    expect(gwWarning.msg).toContain('check --gateway NAMESPACE/NAME');
    await sleep(4000); // several ticks of the gateway's check, and of nothing new at the operator
    expect(log(gateway?.logFile).filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(log(operator?.logFile).filter((l) => l.level === 'warn' && l['group'] === `${NS}/nope`)).toHaveLength(1);
    expect(await fetch(`${gateway.adminUrl}/readyz`).then((r) => r.status)).toBe(503);
    await gateway.stop();
    gateway = undefined;
  });

  it('a gateway whose operator is unreachable names the cause at warn, once for many retries', async () => {
    gateway = await startGateway({
      name: 'no-operator',
      // Debug: each retry on its own is a debug line, so the test sees the retries it waits for.
      args: ['--xds', '127.0.0.1:1', '--gateway', `${NS}/known`, '--log-level', 'debug'],
      waitReady: false,
    });
    const first = await eventually('the unreachable-operator warning', async () =>
      log(gateway?.logFile).find((l) => l.level === 'warn' && String(l.msg).startsWith('cannot reach the operator at 127.0.0.1:1')),
    );
    expect(first['error']).toContain('ECONNREFUSED');
    expect(first.msg).toContain('check --xds HOST:PORT');
    // Four more attempts (backoff 250 ms, doubling), each a debug line and none a warning.
    await eventually(
      'four more failed attempts',
      async () => (log(gateway?.logFile).filter((l) => l.msg === 'xDS connection failed').length >= 4 ? true : undefined),
      30_000,
    );
    const lines = log(gateway.logFile);
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(lines.some((l) => l.msg === 'xDS disconnected')).toBe(false);
    expect(hasStackTrace(readFileSync(gateway.logFile, 'utf8'))).toBe(false);
  });
});
