// Test support: a private redis-server process on a free loopback port, for tests that stop,
// restart or flush a Redis. They must not do that to the shared server other test files use in
// parallel (a SCRIPT FLUSH there makes their next EVALSHA cost an extra round trip).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';

export interface RedisProcess {
  readonly port: number;
  /** Starts the server again on the same port (fresh: no persistence); resolves once it listens. */
  restart(): Promise<void>;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): void;
}

/** A port nothing listens on right now (the kernel's pick, released again). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  srv.close();
  await once(srv, 'close');
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

/** Resolves once something accepts connections on the loopback port (5 s at most). */
export async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const sock = createConnection(port, '127.0.0.1');
    const ok = await new Promise<boolean>((resolve) => {
      sock.once('connect', () => resolve(true));
      sock.once('error', () => resolve(false));
    });
    sock.destroy();
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${port}`);
}

/**
 * Starts `redis-server` (from PATH) without persistence on a free port. `cleanup` receives the
 * function that kills it, for the caller's afterAll.
 */
export async function startRedisProcess(cleanup: (fn: () => void) => void): Promise<RedisProcess> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    child = p;
    cleanup(() => void p.kill('SIGKILL'));
    await waitForPort(port);
  };
  await start();
  return {
    port,
    restart: start,
    kill: () => void child?.kill('SIGKILL'),
  };
}
