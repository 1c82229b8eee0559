/**
 * Standalone mode: the same YAML manifests as examples/ (Gateway API objects, Services,
 * EndpointSlices and our policies), through the same translator as the operator. A change on
 * disk is reloaded; a change that cannot be loaded (a file that does not parse or exceeds a
 * bound, a new object that is rejected, a config the gateway cannot compile) is logged, counted
 * and ignored; an edit that makes an object that was serving invalid is logged and counted, and
 * the previous version of that object keeps serving (load.ts).
 *
 * Loads run on a worker thread (worker-loader.ts), so a large folder does not stall traffic. The
 * folder is watched; when it disappears the last config keeps serving and the folder is looked
 * for every second; when it is back (or was replaced by a new one between two events) it is
 * watched again and loaded.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Fields, RetainedObject } from '@jarvis/api';
import type { Timers, TimerHandle } from '../clock.js';
import { ConfigError, type LoadResult } from './load.js';
import type { ApplyConfig, GatewayConfig } from './types.js';
import { WorkerLoader, type Loader } from './worker-loader.js';

export { ConfigError, ConfigLoader, loadConfigDir } from './load.js';

/** Quiet time after a change before the folder is read (editors write in several steps). */
const DEBOUNCE_MS = 100;
/** How often a folder that is gone is looked for. */
const MISSING_POLL_MS = 1000;

export interface FileSourceEvents {
  applied(config: GatewayConfig): void;
  /** The folder could not be loaded (a config that `apply` refuses is reported by `apply`). */
  rejected(error: string): void;
  /** An object keeps serving its previous version because its new one is rejected; once per rejected version. */
  retained?(object: RetainedObject): void;
  /** What the operator should know and that did not stop a load: a skipped file, the folder gone or back. */
  notice?(level: 'info' | 'warn', message: string, fields?: Fields): void;
}

/** Watches the folder and applies every valid change. */
export class FileSource {
  readonly #loader: Loader;
  #watcher: FSWatcher | undefined;
  /** dev:ino of the folder last found at `dir`: another one at the same path needs a new watch. */
  #identity: string | undefined;
  #timer: TimerHandle | undefined;
  #missing = false;
  /** The watched folder itself was removed or moved (the watch is dead even if a folder is back at once). */
  #lost = false;
  #serving: string | undefined;
  #loading: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(
    private readonly dir: string,
    private readonly gatewayId: string | undefined,
    private readonly apply: ApplyConfig,
    private readonly timers: Timers,
    private readonly events: FileSourceEvents,
    loader?: Loader,
  ) {
    this.#loader = loader ?? new WorkerLoader(dir, gatewayId);
  }

  /** Loads once; throws when the first config is invalid (the gateway cannot start on it). */
  async start(): Promise<GatewayConfig> {
    const result = await this.#loader.load();
    this.#report(result.warnings, result.retained);
    if (!result.ok) throw new ConfigError(result.error);
    const config = result.config!;
    const applied = await this.apply(config);
    if (!applied.ok) throw new ConfigError(applied.error);
    this.#serving = config.version;
    this.events.applied(config);
    await this.#watch();
    return config;
  }

  /** Loads the folder now (one load at a time; a request during a load runs once more after it). */
  reload(): Promise<void> {
    if (this.#loading) {
      this.#again = true;
      return this.#loading;
    }
    this.#loading = (async () => {
      do {
        this.#again = false;
        await this.#reloadOnce();
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#loading = undefined));
    return this.#loading;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unwatch();
    this.#timer?.cancel();
    await this.#loader.close();
  }

  #schedule(ms = DEBOUNCE_MS): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    this.#timer = this.timers.after(ms, () => void this.reload());
  }

  async #reloadOnce(): Promise<void> {
    if (!(await this.#watch())) return;
    let result: LoadResult;
    try {
      result = await this.#loader.load(this.#serving);
    } catch (err) {
      this.events.rejected(err instanceof Error ? err.message : String(err));
      return;
    }
    if (this.#stopped) return;
    this.#report(result.warnings, result.retained);
    if (!result.ok) {
      this.events.rejected(result.error);
      return;
    }
    if (!result.config) return; // what is serving already
    if ((await this.apply(result.config)).ok) {
      this.#serving = result.config.version;
      this.events.applied(result.config);
    }
  }

  #report(warnings: readonly string[], retained: readonly RetainedObject[]): void {
    for (const w of warnings) this.events.notice?.('warn', w, { dir: this.dir });
    for (const r of retained) if (r.fresh) this.events.retained?.(r);
  }

  /**
   * Makes sure the folder at `dir` is the one watched. False when the folder is gone: then the
   * watch is closed, a notice given once, and the folder looked for again in a second.
   */
  async #watch(): Promise<boolean> {
    let identity: string;
    try {
      const s = await stat(this.dir);
      if (!s.isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
      identity = `${s.dev}:${s.ino}`;
    } catch (err) {
      if (this.#stopped) return false;
      this.#unwatch();
      if (!this.#missing) {
        this.#missing = true;
        this.events.notice?.('warn', 'config folder is gone; the last config keeps serving until it is back', {
          dir: this.dir,
          error: (err as NodeJS.ErrnoException).code ?? String(err),
        });
      }
      this.#schedule(MISSING_POLL_MS);
      return false;
    }
    if (this.#stopped) return false;
    if (identity === this.#identity && this.#watcher) return true;
    // Inode numbers are reused at once: a folder deleted and created again can look the same.
    const replaced = this.#lost || (this.#identity !== undefined && this.#identity !== identity);
    this.#identity = identity;
    this.#lost = false;
    this.#unwatch();
    const self = basename(this.dir);
    try {
      const watcher = watch(this.dir, (event, name) => {
        // inotify reports the watched folder's own removal or move with the folder's name.
        if (event === 'rename' && name === self && this.#watcher === watcher) {
          this.#lost = true;
          this.#unwatch();
        }
        this.#schedule();
      });
      watcher.on('error', () => {
        // The folder went away under the watch: find out on the next load.
        if (this.#watcher === watcher) {
          this.#lost = true;
          this.#unwatch();
        }
        this.#schedule();
      });
      this.#watcher = watcher;
    } catch {
      this.#schedule(MISSING_POLL_MS);
      return false;
    }
    if (this.#missing || replaced) {
      this.events.notice?.(
        'info',
        this.#missing ? 'config folder is back; watching it again' : 'config folder was replaced; watching the new one',
        {
          dir: this.dir,
        },
      );
      this.#missing = false;
    }
    return true;
  }

  #unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
