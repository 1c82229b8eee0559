/**
 * Notices when files change, by polling their metadata. Polling (not fs.watch) because a mounted
 * Kubernetes Secret changes by swapping a symlink in its directory, which inotify on the file
 * itself misses; `stat` follows the link, so a new inode, size or mtime shows up on the next tick.
 */
import { statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { TimerHandle, Timers } from '../clock.js';

export interface FileWatch {
  /** Checks now; resolves true when something changed (and `onChange` has run). */
  check(): Promise<boolean>;
  close(): void;
}

/**
 * Watches `paths` every `intervalMs` (0: never on its own; `check()` still works). `onChange`
 * runs at most once at a time; the next tick is armed only after it finished. The files' state at
 * the call is the baseline, so call this right after loading them.
 */
export function watchFiles(paths: readonly string[], timers: Timers, intervalMs: number, onChange: () => Promise<void>): FileWatch {
  let last = paths.map(signatureSync).join('|');
  let timer: TimerHandle | undefined;
  let closed = false;
  let running: Promise<boolean> | undefined;

  const signature = async (): Promise<string> => {
    const parts = await Promise.all(
      paths.map(async (p) => {
        try {
          return describe(await stat(p));
        } catch (err) {
          return `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
        }
      }),
    );
    return parts.join('|');
  };

  const check = (): Promise<boolean> => {
    running ??= (async () => {
      try {
        const sig = await signature();
        if (sig === last) return false;
        last = sig;
        await onChange();
        return true;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const arm = (): void => {
    if (closed || intervalMs <= 0) return;
    timer = timers.after(intervalMs, () => {
      check()
        .catch(() => false)
        .finally(arm);
    });
  };

  arm();

  return {
    check,
    close() {
      closed = true;
      timer?.cancel();
    },
  };
}

function describe(s: Stats): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

function signatureSync(path: string): string {
  try {
    return describe(statSync(path));
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}
