/**
 * JWKS documents a gateway fetches itself (a provider's `keys.remote`), kept across config
 * reloads: one fetcher per (URL, refresh interval, timeout), shared by every config that names it
 * and stopped when the last one lets go. Bounded in every way: one fetch at a time, a timeout, at
 * most MAX_JWKS_BYTES, no redirects, a refresh every refreshIntervalMs, and an early refresh (a
 * token names a key id the document lacks) at most once per max(1 s, refreshIntervalMs / 10). A
 * failed fetch or an unusable document keeps the last good document.
 */
import { JWT_ALGORITHMS, MAX_JWKS_BYTES, readJwks } from '@jarvis/api';
import type { Clock, TimerHandle, Timers } from '../clock.js';

/** Fetches a document's text: bounded in time and size; throws with a short reason. */
export type JwksFetch = (uri: string, timeoutMs: number) => Promise<string>;

export interface RemoteJwksLog {
  info(msg: string, fields?: Readonly<Record<string, string | number | boolean | undefined>>): void;
  warn(msg: string, fields?: Readonly<Record<string, string | number | boolean | undefined>>): void;
}

/** GET with a timeout (injected timers), no redirects, and a size bound; the body as UTF-8 text. */
export function httpJwksFetch(timers: Timers): JwksFetch {
  return async (uri, timeoutMs) => {
    const controller = new AbortController();
    const timer = timers.after(timeoutMs, () => controller.abort(new Error(`no answer within ${timeoutMs} ms`)));
    try {
      const res = await fetch(uri, {
        signal: controller.signal,
        redirect: 'error',
        headers: { accept: 'application/jwk-set+json, application/json' },
      });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw new Error(`HTTP ${res.status}`);
      }
      const reader = res.body?.getReader();
      if (!reader) return '';
      const chunks: Uint8Array[] = [];
      let size = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > MAX_JWKS_BYTES) {
          await reader.cancel().catch(() => undefined);
          throw new Error(`larger than ${MAX_JWKS_BYTES} bytes`);
        }
        chunks.push(value);
      }
      return Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      throw new Error(
        reason instanceof Error
          ? reason.cause instanceof Error
            ? `${reason.message}: ${reason.cause.message}`
            : reason.message
          : String(reason),
      );
    } finally {
      timer.cancel();
    }
  };
}

export interface RemoteJwksSettings {
  readonly uri: string;
  readonly refreshIntervalMs: number;
  readonly timeoutMs: number;
}

/** One fetched JWKS document and its refresh schedule. */
export class RemoteJwks {
  /** Bumped whenever a new document is taken. */
  version = 0;
  /** The last good document, undefined until a fetch succeeded. */
  text: string | undefined;
  /** Why the last fetch failed (cleared by a success). */
  error: string | undefined;
  refs = 0;
  readonly #s: RemoteJwksSettings;
  readonly #deps: RemoteDeps;
  readonly #earliestGapMs: number;
  #running: Promise<boolean> | undefined;
  #lastStart = -Infinity;
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(settings: RemoteJwksSettings, deps: RemoteDeps) {
    this.#s = settings;
    this.#deps = deps;
    this.#earliestGapMs = Math.max(1000, settings.refreshIntervalMs / 10);
  }

  get uri(): string {
    return this.#s.uri;
  }

  /** First fetch now, then every refreshIntervalMs. */
  start(): void {
    void this.#fetch();
  }

  /** Resolves once a first fetch has finished (or failed). */
  get settled(): Promise<boolean> {
    return this.#running ?? Promise.resolve(this.text !== undefined);
  }

  /**
   * A token names a key the document does not have: fetch again, unless a fetch started less than
   * the minimum gap ago (then wait for a running one, if any). Resolves true when the document changed.
   */
  refreshSoon(): Promise<boolean> {
    if (this.#running) return this.#running;
    if (this.#deps.stopwatch.now() - this.#lastStart < this.#earliestGapMs) return Promise.resolve(false);
    return this.#fetch();
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
  }

  #fetch(): Promise<boolean> {
    if (this.#running) return this.#running;
    this.#timer?.cancel();
    this.#lastStart = this.#deps.stopwatch.now();
    const run = (async () => {
      try {
        const text = await this.#deps.fetch(this.#s.uri, this.#s.timeoutMs);
        // Checked with every algorithm: each provider keeps the keys of its own algorithms.
        const read = readJwks(text, JWT_ALGORITHMS);
        if (!read.ok) throw new Error(`the document ${read.error}`);
        this.error = undefined;
        if (text === this.text) return false;
        const first = this.text === undefined;
        this.text = text;
        this.version++;
        this.#deps.log.info(first ? 'JWKS fetched' : 'JWKS changed', { uri: this.#s.uri, keys: read.keys.length });
        return true;
      } catch (err) {
        this.error = err instanceof Error ? err.message : String(err);
        this.#deps.log.warn(
          this.text === undefined ? 'JWKS fetch failed; tokens of its issuer get 503' : 'JWKS fetch failed; keeping the last keys',
          {
            uri: this.#s.uri,
            error: this.error,
          },
        );
        return false;
      } finally {
        this.#running = undefined;
        if (!this.#closed) this.#timer = this.#deps.timers.after(this.#s.refreshIntervalMs, () => void this.#fetch());
      }
    })();
    this.#running = run;
    return run;
  }
}

interface RemoteDeps {
  readonly fetch: JwksFetch;
  readonly timers: Timers;
  /** Monotonic time for the minimum gap between early refreshes. */
  readonly stopwatch: Clock;
  readonly log: RemoteJwksLog;
}

/** The fetchers in use, shared by the configs that name them (a reload keeps the keys it had). */
export class JwksRegistry {
  readonly #byKey = new Map<string, RemoteJwks>();
  readonly #deps: RemoteDeps;

  constructor(deps: RemoteDeps) {
    this.#deps = deps;
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** The fetcher for these settings, started if new; call `release` once done with it. */
  acquire(settings: RemoteJwksSettings): RemoteJwks {
    const key = `${settings.uri}\n${settings.refreshIntervalMs}\n${settings.timeoutMs}`;
    let remote = this.#byKey.get(key);
    if (!remote) {
      remote = new RemoteJwks(settings, this.#deps);
      this.#byKey.set(key, remote);
      remote.start();
    }
    remote.refs++;
    return remote;
  }

  release(remote: RemoteJwks): void {
    remote.refs--;
    if (remote.refs > 0) return;
    remote.close();
    for (const [k, r] of this.#byKey) if (r === remote) this.#byKey.delete(k);
  }
}
