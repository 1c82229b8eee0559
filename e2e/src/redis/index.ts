import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { Redis } from 'ioredis';

import { freePort, isPortFree } from '../envtest/ports.js';
import { which } from '../util/exec.js';
import { tailFile } from '../util/files.js';
import { errorMessage } from '../util/guards.js';
import { pollUntil } from '../util/poll.js';
import { hasExited, stopChild, trackChild, trackDir } from '../util/processes.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface RedisServer {
  /** URL to connect to (differs from the requested one when we had to pick another port). */
  url: string;
  /** Whether ensureRedis started redis-server itself. */
  started: boolean;
  /** Stops the redis-server we started; no-op for one that was already running. */
  stop(): Promise<void>;
}

type PingResult = { ok: true } | { ok: false; error: string };

/** Whether a TCP connection to the URL's host:port opens (something listens there). */
function tcpReachable(url: URL, timeoutMs = 1_000): Promise<{ reachable: boolean; error: string }> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = Number(url.port || 6379);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (reachable: boolean, error: string): void => {
      socket.destroy();
      resolve({ reachable, error });
    };
    socket.setTimeout(timeoutMs, () => done(false, `connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    socket.once('connect', () => done(true, ''));
    socket.once('error', (err) => done(false, err.message));
  });
}

/** One PING with a fresh, non-retrying client. */
async function ping(url: string, timeoutMs = 1_000): Promise<PingResult> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    reconnectOnError: () => false,
  });
  let firstError: unknown;
  client.on('error', (err: unknown) => {
    firstError ??= err;
  });
  try {
    await client.connect();
    const answer = await client.ping();
    return answer === 'PONG' ? { ok: true } : { ok: false, error: `PING answered ${answer}` };
  } catch (err) {
    return { ok: false, error: errorMessage(firstError ?? err) };
  } finally {
    client.disconnect();
  }
}

function isLoopback(hostname: string): boolean {
  return ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(hostname) || hostname.startsWith('127.');
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * A Redis for tests at `url`: used as is when it answers PING; otherwise, for a loopback
 * redis:// URL, a throwaway `redis-server` without persistence is started (on the URL's port,
 * or a free one if that port is taken) and `stop()` stops it.
 */
export async function ensureRedis(
  url: string = process.env['REDIS_URL'] ?? DEFAULT_REDIS_URL,
  opts: { log?: (line: string) => void } = {},
): Promise<RedisServer> {
  const log = opts.log ?? ((): void => undefined);
  const parsed = new URL(url);
  const tcp = await tcpReachable(parsed);
  if (tcp.reachable) {
    const answer = await ping(url);
    if (answer.ok) {
      log(`using the Redis at ${redact(url)}`);
      return { url, started: false, stop: async () => undefined };
    }
    throw new Error(`something listens at ${redact(url)} but PING fails: ${answer.error}`);
  }
  if (parsed.protocol !== 'redis:' || !isLoopback(parsed.hostname)) {
    throw new Error(
      `no Redis answers at ${redact(url)} (${tcp.error}), and it is not a loopback redis:// URL we could start ` +
        'a server for. Start one there, or unset REDIS_URL to use a local redis-server.',
    );
  }
  const binary = await which('redis-server');
  if (!binary) {
    throw new Error(
      `no Redis answers at ${redact(url)} and redis-server is not on PATH. Install it ` +
        '(Debian/Ubuntu: `apt-get install -y redis-server`; macOS: `brew install redis`) or point REDIS_URL ' +
        'at a running Redis.',
    );
  }
  const wanted = Number(parsed.port || 6379);
  const port = (await isPortFree(wanted)) ? wanted : await freePort();
  const db = parsed.pathname.replace(/^\//, '');
  const effective = `redis://127.0.0.1:${port}${db ? `/${db}` : ''}`;
  return startRedisServer(binary, port, effective, log);
}

async function startRedisServer(binary: string, port: number, url: string, log: (line: string) => void): Promise<RedisServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jarvis-redis-'));
  const forgetDir = trackDir(dir);
  const logFile = path.join(dir, 'redis.log');
  const fd = openSync(logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
      { stdio: ['ignore', fd, fd] },
    );
  } finally {
    closeSync(fd);
  }
  child.on('error', () => undefined);
  const forget = trackChild(child);
  const cleanup = async (): Promise<void> => {
    try {
      await stopChild(child, 5_000);
    } finally {
      forget();
      await rm(dir, { recursive: true, force: true });
      forgetDir();
    }
  };
  try {
    await pollUntil(
      async () => {
        if (hasExited(child)) {
          throw new Error(`redis-server exited before answering; last lines of ${logFile}:\n${await tailFile(logFile, 40)}`);
        }
        const result = await ping(url, 500);
        return result.ok ? { done: true, value: undefined } : { done: false, reason: result.error };
      },
      { what: `redis-server on port ${port}`, timeoutMs: 10_000, intervalMs: 100 },
    );
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
  log(`started redis-server (pid ${String(child.pid)}) at ${url}`);
  let stopping: Promise<void> | undefined;
  return { url, started: true, stop: () => (stopping ??= cleanup()) };
}

/** Identifies this test process: `<pid>-<random hex>`. */
export const runId = `${process.pid}-${randomBytes(4).toString('hex')}`;

/** `jarvis-test:<runId>:<name>:` — every key a test writes should start with it. */
export function redisTestPrefix(name: string): string {
  return `jarvis-test:${runId}:${name}:`;
}

export interface TestRedis {
  /** Connected client (no offline queue, short command timeout). */
  redis: Redis;
  /** `jarvis-test:<runId>:<name>:` */
  prefix: string;
  /** `prefix + parts.join(':')` */
  key(...parts: string[]): string;
  /** Deletes every key under `prefix`, then closes the client. Safe to call twice. */
  cleanup(): Promise<void>;
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

async function deleteByPrefix(client: Redis, prefix: string): Promise<number> {
  const pattern = `${globEscape(prefix)}*`;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) deleted += await client.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}

/**
 * A Redis client for one test (file) plus a key prefix unique to this run. `url` defaults to
 * $REDIS_URL or redis://127.0.0.1:6379; in vitest pass `inject('redisUrl')`.
 */
export async function testRedis(name: string, opts: { url?: string; commandTimeoutMs?: number } = {}): Promise<TestRedis> {
  const url = opts.url ?? process.env['REDIS_URL'] ?? DEFAULT_REDIS_URL;
  const options = {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    commandTimeout: opts.commandTimeoutMs ?? 2_000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number): number | null => (times > 5 ? null : 100),
  };
  const redis = new Redis(url, options);
  redis.on('error', () => {
    /* surfaced by the failing command */
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot connect to Redis at ${redact(url)}: ${errorMessage(err)}`);
  }
  const prefix = redisTestPrefix(name);
  let done: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    done ??= (async () => {
      // A client of its own: the test may have closed (or broken) `redis`.
      const cleaner = new Redis(url, options);
      cleaner.on('error', () => undefined);
      try {
        await cleaner.connect();
        await deleteByPrefix(cleaner, prefix);
      } finally {
        cleaner.disconnect();
        redis.disconnect();
      }
    })();
    return done;
  };
  return { redis, prefix, key: (...parts) => `${prefix}${parts.join(':')}`, cleanup };
}
