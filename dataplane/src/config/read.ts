/**
 * Reads the manifests of a `--config` folder without trusting what is in it: only regular files
 * (or symlinks to them, as a ConfigMap volume has) ending in .yaml or .yml are read; anything else
 * with such a name (a FIFO, a socket, a device, a folder) is skipped with a warning. A file is
 * opened with O_NONBLOCK and checked after opening, so a FIFO put in its place in between cannot
 * make the read wait for a writer. Sizes are bounded per file and per folder.
 */
import { constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_YAML_LIMITS } from '@jarvis/api';

/** Largest manifest file (the YAML reader's own bound). */
export const MAX_CONFIG_FILE_BYTES = DEFAULT_YAML_LIMITS.maxBytes;
/** Largest total of the folder's manifests. */
export const MAX_CONFIG_DIR_BYTES = 64 * 1024 * 1024;
/** Most manifest files in the folder. */
export const MAX_CONFIG_FILES = 10_000;

export class ConfigError extends Error {}

export interface ConfigFile {
  readonly name: string;
  readonly text: string;
}

export interface ConfigFiles {
  /** In name order. */
  readonly files: readonly ConfigFile[];
  /** One line per entry that was not read, saying why. */
  readonly skipped: readonly string[];
}

const MANIFEST = /\.ya?ml$/;

/** The text of one regular file of at most `max` bytes, or a reason why it was not read. */
async function readRegular(path: string, max: number): Promise<{ text: string; bytes: number } | { skip: string }> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return { skip: stat.isDirectory() ? 'a folder' : 'not a regular file (a FIFO, socket or device)' };
    if (stat.size > max) throw new ConfigError(`larger than ${max} bytes (${stat.size})`);
    // Read one byte more than allowed: a file that grew since stat() is caught as well.
    const buf = Buffer.alloc(Math.min(max, stat.size) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buf.length) {
        if (length > max) throw new ConfigError(`larger than ${max} bytes`);
        break;
      }
    }
    return { text: buf.toString('utf8', 0, length), bytes: length };
  } finally {
    await handle.close();
  }
}

/** The folder's entries, or a ConfigError that says what is wrong with the folder and what it should hold. */
async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT'
        ? 'no such directory'
        : code === 'ENOTDIR'
          ? 'not a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (err as Error).message;
    throw new ConfigError(
      `--config ${dir}: ${what}; it wants a folder of manifests like examples/ (a GatewayClass and Gateway of ours, HTTPRoutes, Services, EndpointSlices, policies)`,
    );
  }
}

/** Throws ConfigError (naming the file, or saying what is wrong with the folder) on a file or folder it cannot use. */
export async function readConfigDir(dir: string): Promise<ConfigFiles> {
  const names = (await listDir(dir)).filter((f) => MANIFEST.test(f)).sort();
  if (names.length > MAX_CONFIG_FILES) throw new ConfigError(`${dir}: more than ${MAX_CONFIG_FILES} manifest files`);
  const files: ConfigFile[] = [];
  const skipped: string[] = [];
  let total = 0;
  for (const name of names) {
    let read: { text: string; bytes: number } | { skip: string };
    try {
      read = await readRegular(join(dir, name), MAX_CONFIG_FILE_BYTES);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${name}: ${err.message}`);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue; // removed since readdir
      if (code === 'ENXIO' || code === 'EOPNOTSUPP') {
        skipped.push(`${name}: not a regular file (a socket or device)`);
        continue;
      }
      throw new ConfigError(`${name}: ${(err as Error).message}`);
    }
    if ('skip' in read) {
      skipped.push(`${name}: ${read.skip}; skipped`);
      continue;
    }
    total += read.bytes;
    if (total > MAX_CONFIG_DIR_BYTES) throw new ConfigError(`${dir}: the manifests add up to more than ${MAX_CONFIG_DIR_BYTES} bytes`);
    files.push({ name, text: read.text });
  }
  return { files, skipped };
}
