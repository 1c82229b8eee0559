/**
 * Where a JWT provider's keys come from, behind one small interface: keys delivered with the
 * config (from a Secret), key files watched for changes, or a fetched JWKS document. `version`
 * moves whenever the keys change, so the verifier can drop what it verified with older keys.
 */
import type { JwtAlgorithm, JwtProviderIR } from '@jarvis/api';
import type { Timers } from '../clock.js';
import { KeyLoadError, jwksKeys, keyFiles, loadFileKeys, loadFileKeysSync, type VerifyKey } from './keys.js';
import type { JwksRegistry, RemoteJwks } from './remote.js';
import { type FileWatch, watchFiles } from './watch.js';

export interface KeySource {
  /** Changes whenever the keys do. */
  readonly version: number;
  /** The keys now, or why there are none yet (a JWKS URL not fetched so far). */
  keys(): readonly VerifyKey[] | { readonly unavailable: string };
  /**
   * A token named a key id no key has: look again if the source can (a fetched JWKS, within its
   * bounds). Resolves true when the keys changed.
   */
  refresh?(): Promise<boolean>;
  /** Re-reads now (SIGHUP); a bad file keeps the previous keys. */
  reload?(): Promise<void>;
  close(): void;
}

export interface KeySourceDeps {
  readonly timers: Timers;
  /** How often key files are checked; 0 never. */
  readonly reloadIntervalMs: number;
  readonly jwks: JwksRegistry;
  readonly warn: (msg: string, fields?: Readonly<Record<string, string>>) => void;
}

/**
 * Builds the source of one provider. Throws KeyLoadError (naming `field`) when keys delivered with
 * the config, or key files, cannot be used: such a config is refused (NACK), never half-applied.
 */
export function keySource(provider: JwtProviderIR, field: string, deps: KeySourceDeps): KeySource {
  const algorithms = provider.algorithms as readonly JwtAlgorithm[];
  const k = provider.keys;
  switch (k.type) {
    case 'Inline': {
      // An empty list: the operator left out a Secret it could not use (ResolvedRefs=False).
      const keys =
        k.keys.length === 0 ? [] : jwksKeys(JSON.stringify({ keys: k.keys }), algorithms, `provider ${provider.name}`, `${field}.keys`);
      return { version: 0, keys: () => keys, close: () => undefined };
    }
    case 'Remote':
      return remoteSource(deps.jwks.acquire(k), algorithms, deps.jwks, provider.name);
    case 'JwksFile':
    case 'PemFiles': {
      let keys = loadFileKeysSync(k, algorithms, field);
      let version = 0;
      const reload = async (failure: string) => {
        try {
          keys = await loadFileKeys(k, algorithms, field);
          version++;
        } catch (err) {
          deps.warn(`identity: JWT keys ${failure}; keeping the previous keys`, { provider: provider.name, error: (err as Error).message });
        }
      };
      const watch: FileWatch = watchFiles(keyFiles(k), deps.timers, deps.reloadIntervalMs, () => reload('changed but cannot be used'));
      return {
        get version() {
          return version;
        },
        keys: () => keys,
        reload: () => reload('cannot be reloaded'),
        close: () => watch.close(),
      };
    }
  }
}

function remoteSource(remote: RemoteJwks, algorithms: readonly JwtAlgorithm[], registry: JwksRegistry, provider: string): KeySource {
  let built = -1;
  let keys: readonly VerifyKey[] = [];
  let problem: string | undefined;
  let released = false;
  return {
    get version() {
      return remote.version;
    },
    keys() {
      if (remote.text === undefined)
        return { unavailable: `the keys of provider ${provider} are not available yet (${remote.error ?? 'first fetch running'})` };
      if (built !== remote.version) {
        built = remote.version;
        try {
          keys = jwksKeys(remote.text, algorithms, remote.uri, 'keys.remote');
          problem = undefined;
        } catch (err) {
          keys = [];
          problem = err instanceof KeyLoadError ? err.message : String(err);
        }
      }
      return problem !== undefined && keys.length === 0 ? { unavailable: `provider ${provider}: ${problem}` } : keys;
    },
    refresh: () => remote.refreshSoon(),
    reload: async () => {
      await remote.refreshSoon();
    },
    close() {
      if (released) return;
      released = true;
      registry.release(remote);
    },
  };
}
