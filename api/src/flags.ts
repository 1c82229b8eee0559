/** Flag values shared by the binaries (jarvis-operator, jarvis-gateway), validated at the edge. */
import { createLogger } from './log.js';
import { systemClock } from './time.js';

export class FlagError extends Error {}

/**
 * Something outside the binary keeps it from starting and the user can fix it (a missing file or
 * folder, no kubeconfig, a port in use): the message says what is wrong and what to do. runBinary
 * logs it as one error line, without a stack trace, and exits 1.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/** A file the binary needs at start, or a StartupError naming the flag. */
export function startupFileError(flag: string, path: string, err: unknown): StartupError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const what =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EACCES'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory, not a file'
          : code === 'ENOTDIR'
            ? 'not a directory'
            : err instanceof Error
              ? err.message
              : String(err);
  return new StartupError(`${flag} ${path}: ${what}`, { cause: err });
}

/** A listener that could not bind, as a StartupError naming the flag. */
export function listenError(flag: string, address: string, err: unknown): StartupError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const message = err instanceof Error ? err.message : String(err);
  const what =
    code === 'EADDRINUSE' || /address already in use/i.test(message)
      ? `the address is in use: stop what listens there or pick another with ${flag}`
      : code === 'EACCES'
        ? `permission denied: ports below 1024 need privileges; pick another with ${flag}`
        : code === 'EADDRNOTAVAIL'
          ? `this machine has no such address; pick one of its own with ${flag}`
          : `cannot listen (${message}); pick another address with ${flag}`;
  return new StartupError(`${flag} ${address}: ${what}`, { cause: err });
}

export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new FlagError(`${flag}: expected HOST:PORT (e.g. 0.0.0.0:18000), got ${JSON.stringify(value)}`);
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export function parseDurationMs(value: string, flag: string): number {
  const m = /^(\d{1,6})(ms|s|m|h)$/.exec(value);
  if (!m) throw new FlagError(`${flag}: expected a duration such as 500ms, 15s or 5m, got ${JSON.stringify(value)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

/**
 * Reads `--name value` and `--name=value` pairs of known value flags; `--help`/`-h` gives 'help'.
 * An unknown flag or a missing value is a FlagError naming it.
 */
export function readFlags(argv: readonly string[], known: ReadonlySet<string>, usage: string): Map<string, string> | 'help' {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return 'help';
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = m?.[1] ?? '';
    if (!m || !known.has(name)) throw new FlagError(`unknown flag ${JSON.stringify(arg)}\n\n${usage}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new FlagError(`--${name} needs a value`);
    values.set(name, value);
  }
  return values;
}

/**
 * The entry of a binary: parses its flags (a FlagError exits 2 with the message, `--help` prints
 * the usage and exits 0), runs it, and exits with its code. If it throws, it exits 1 after one
 * error line on stderr (JSON, like the binary's log): a StartupError's message alone, anything
 * else (a bug) with its stack.
 */
export function runBinary<F>(name: string, parse: () => F | 'help', usage: string, run: (flags: F) => Promise<number>): void {
  let flags: F | 'help';
  try {
    flags = parse();
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (flags === 'help') {
    process.stdout.write(usage);
    process.exit(0);
  }
  run(flags).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const log = createLogger({ base: { component: name }, now: systemClock.now });
      if (err instanceof StartupError) log.error(`cannot start: ${err.message}`);
      else
        log.error(`stopped by an unexpected error: ${err instanceof Error ? err.message : String(err)}`, {
          stack: err instanceof Error ? err.stack : undefined,
        });
      process.exit(1);
    },
  );
}
