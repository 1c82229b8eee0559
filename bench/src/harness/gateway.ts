/**
 * Runs the gateway (`dataplane/dist/main.js`) as a process on a directory of manifests, or on the
 * operator over xDS — the one place the benchmark and the demo know its command line:
 *
 *   node dataplane/dist/main.js (--config DIR | --xds HOST:PORT --gateway NS/NAME)
 *        --listen 127.0.0.1:PORT --admin-listen 127.0.0.1:PORT --state-dir DIR [--redis URL] [--identity FILE]
 *
 * and readiness as `GET <admin>/readyz` answering 200 (or, with `acceptNotReady`, `/healthz`
 * answering 200 while `/readyz` still refuses, e.g. because Redis is missing on purpose).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { clock } from '@jarvis/e2e/dist/clock.js';
import { freePorts } from '@jarvis/e2e/dist/envtest/ports.js';
import { repoRoot } from '@jarvis/e2e/dist/paths.js';
import { tailFile } from '@jarvis/e2e/dist/util/files.js';
import { pollUntil } from '@jarvis/e2e/dist/util/poll.js';
import { hasExited, stopChild, trackChild, trackDir } from '@jarvis/e2e/dist/util/processes.js';

/** The gateway's entry point; `JARVIS_GATEWAY_MAIN` points elsewhere (another build, or a missing one to test the fallback). */
export const GATEWAY_MAIN = process.env['JARVIS_GATEWAY_MAIN'] ?? join(repoRoot, 'dataplane', 'dist', 'main.js');

/**
 * The Node flags of the gateway's own shebang (`#!/usr/bin/env -S node FLAGS`): the flags its
 * binary runs with everywhere (`jarvis-gateway` in the image and the chart), given here too.
 */
export function gatewayNodeFlags(main: string = GATEWAY_MAIN): string[] {
  const first = readFileSync(main, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node((?: --[a-z0-9-]+(?:=\S+)?)*)\s*$/.exec(first);
  return m?.[1] ? m[1].trim().split(' ') : [];
}

/** Whether the gateway has been built. */
export function gatewayAvailable(): boolean {
  return existsSync(GATEWAY_MAIN);
}

export interface GatewayOptions {
  /** Directory of manifests (standalone mode); or `xds`. */
  configDir?: string;
  /** The operator's ADS address and the Gateway (`NS/NAME`) to serve; or `configDir`. */
  xds?: { target: string; gateway: string };
  /** Redis for `store: Redis` limits; without it the child does not see REDIS_URL either. */
  redisUrl?: string;
  /** Identity configuration (trusted proxies, JWT, API keys). */
  identityFile?: string;
  /** HOST:PORT of the traffic listener; default a free loopback port. */
  listen?: string;
  /** HOST:PORT of the admin listener; default a free loopback port. */
  adminListen?: string;
  /** Gateway output goes here; default `gateway.log` in the state directory. */
  logFile?: string;
  extraArgs?: readonly string[];
  readyTimeoutMs?: number;
  /**
   * Settle for a live gateway that stays unready (its /readyz says why) after this many ms; by
   * default the gateway must turn ready.
   */
  acceptNotReadyAfterMs?: number;
}

export interface RunningGateway {
  /** `http://host:port` of the traffic listener. */
  readonly url: string;
  /** `http://host:port` of the admin listener. */
  readonly adminUrl: string;
  readonly logFile: string;
  readonly pid: number | undefined;
  /** Why /readyz refused when the gateway was accepted unready (`acceptNotReadyAfterMs`). */
  readonly notReady: string | undefined;
  /** Whether the process has exited. */
  exited(): boolean;
  /** SIGTERM (the gateway drains), SIGKILL after 10 s; removes the state directory. */
  stop(): Promise<void>;
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  return { status: res.status, text: await res.text() };
}

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  if (!gatewayAvailable()) throw new Error(`the gateway is not built (${GATEWAY_MAIN} is missing); run npm run build`);
  const source =
    opts.configDir !== undefined
      ? ['--config', opts.configDir]
      : opts.xds !== undefined
        ? ['--xds', opts.xds.target, '--gateway', opts.xds.gateway]
        : undefined;
  if (!source || (opts.configDir !== undefined && opts.xds !== undefined)) throw new Error('startGateway: give configDir or xds, not both');
  const [trafficPort, adminPort] = await freePorts(2);
  const listen = opts.listen ?? `127.0.0.1:${trafficPort}`;
  const adminListen = opts.adminListen ?? `127.0.0.1:${adminPort}`;
  const stateDir = await mkdtemp(join(tmpdir(), 'jarvis-gateway-state-'));
  const forgetDir = trackDir(stateDir);
  const logFile = opts.logFile ?? join(stateDir, 'gateway.log');
  const args = [...gatewayNodeFlags(), GATEWAY_MAIN, ...source, '--listen', listen, '--admin-listen', adminListen, '--state-dir', stateDir];
  if (opts.redisUrl !== undefined) args.push('--redis', opts.redisUrl);
  if (opts.identityFile !== undefined) args.push('--identity', opts.identityFile);
  args.push(...(opts.extraArgs ?? []));
  const env = { ...process.env };
  if (opts.redisUrl === undefined) delete env['REDIS_URL'];
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  trackChild(child);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const url = `http://${listen}`;
  const adminUrl = `http://${adminListen}`;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      try {
        await stopChild(child, 10_000);
      } finally {
        log.end();
        await rm(stateDir, { recursive: true, force: true });
        forgetDir();
      }
    })());
  const started = clock.now();
  let notReady: string | undefined;
  try {
    await pollUntil(
      async () => {
        if (hasExited(child)) {
          throw new Error(
            `the gateway exited (${child.signalCode ?? String(child.exitCode)}) before it was ready:\n${await tailFile(logFile, 30)}`,
          );
        }
        try {
          const ready = await get(`${adminUrl}/readyz`);
          if (ready.status === 200) return { done: true, value: undefined };
          const reason = `/readyz answered ${ready.status}: ${ready.text.trim()}`;
          if (
            opts.acceptNotReadyAfterMs !== undefined &&
            clock.now() - started >= opts.acceptNotReadyAfterMs &&
            (await get(`${adminUrl}/healthz`)).status === 200
          ) {
            notReady = ready.text.trim();
            return { done: true, value: undefined };
          }
          return { done: false, reason };
        } catch (err) {
          return { done: false, reason: err instanceof Error ? err.message : String(err) };
        }
      },
      { what: `the gateway's ${adminUrl}/readyz`, timeoutMs: opts.readyTimeoutMs ?? 30_000, intervalMs: 100 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, adminUrl, logFile, pid: child.pid, notReady, exited: () => hasExited(child), stop };
}
