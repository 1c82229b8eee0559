import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { clock, sleep } from '../clock.js';
import { errorCode } from './guards.js';
import { isPidAlive } from './processes.js';

export interface FileLockOptions {
  /** Give up waiting after this long (default 180 s). */
  timeoutMs?: number;
  /** Told once when we have to wait for another holder. */
  log?: (line: string) => void;
  /** Who else might hold it, for the messages. */
  holderHint?: string;
}

/**
 * Runs `fn` holding `lockFile` — a file created exclusively that names the holder's pid — so
 * that several processes do not race. A lock whose holder is dead is taken over.
 */
export async function withFileLock<T>(lockFile: string, fn: () => Promise<T>, opts: FileLockOptions = {}): Promise<T> {
  await mkdir(path.dirname(lockFile), { recursive: true });
  const deadline = clock.now() + (opts.timeoutMs ?? 180_000);
  const hint = opts.holderHint ?? 'another process';
  let told = false;
  for (;;) {
    try {
      await writeFile(lockFile, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err;
    }
    const content = await readFile(lockFile, 'utf8').catch(() => '');
    const holder = Number.parseInt(content, 10);
    if (!Number.isInteger(holder) || !isPidAlive(holder)) {
      // Dead holder: take over. Empty content may be a holder between create and write: wait a bit.
      if (content === '') await sleep(50);
      const again = await readFile(lockFile, 'utf8').catch(() => '');
      if (again === content) await unlink(lockFile).catch(() => undefined);
      continue;
    }
    if (clock.now() > deadline) throw new Error(`${lockFile} is still held by pid ${holder} (${hint})`);
    if (!told) {
      opts.log?.(`waiting for pid ${holder} (${hint}) to release ${lockFile}`);
      told = true;
    }
    await sleep(200);
  }
  try {
    return await fn();
  } finally {
    await unlink(lockFile).catch(() => undefined);
  }
}
