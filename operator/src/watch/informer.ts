/**
 * A list+watch cache of one resource collection that keeps itself alive. The fixes its users
 * needed from @kubernetes/client-node's informer are built in: every watch error restarts the watch
 * with bounded exponential backoff; 410 Gone (or an expired resourceVersion) relists; a periodic
 * relist (resync) repairs a watch that stopped silently. Each change calls `onChange`.
 */
import { Backoff } from '@jarvis/api';
import type { Clock, Scheduler, TimerHandle } from '../clock.js';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../observe/log.js';

export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
    readonly [k: string]: unknown;
  };
  readonly [k: string]: unknown;
}

export interface InformerOptions {
  /** For logs and metrics, e.g. `httproutes`. */
  readonly name: string;
  /** Collection path, e.g. `/apis/gateway.networking.k8s.io/v1/httproutes`. */
  readonly path: string;
  /** Stamped on every object: list responses leave them out of the items. */
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly client: KubeClient;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly log: Logger;
  readonly onChange: () => void;
  readonly resyncMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Most objects kept; beyond it the informer refuses new ones and logs (a cluster this large needs --namespace). */
  readonly maxObjects?: number;
  /** Watch timeout asked of the server; the watch is re-established after it. */
  readonly watchTimeoutSeconds?: number;
  /** Lists and watches only objects with these labels (`key`, `key=value`, comma-separated). */
  readonly labelSelector?: string;
  /**
   * The collection may be forbidden (RBAC not granted): a 403 on the list counts as synced and
   * empty (logged once), and the list is retried with backoff, so the other inputs keep flowing.
   */
  readonly optional?: boolean;
}

class ListError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

type Phase = 'stopped' | 'listing' | 'watching' | 'backoff';

/** `namespace/name`, or `name` alone for a cluster-scoped object. */
function cacheKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function objectKey(obj: KubeObject): string {
  return cacheKey(obj.metadata.namespace, obj.metadata.name);
}

function isKubeObject(value: unknown): value is KubeObject {
  if (typeof value !== 'object' || value === null) return false;
  const meta = (value as { metadata?: unknown }).metadata;
  return typeof meta === 'object' && meta !== null && typeof (meta as { name?: unknown }).name === 'string';
}

/** Drops what the operator never reads and what costs the most memory; stamps apiVersion/kind. */
function slim(raw: KubeObject, apiVersion: string | undefined, kind: string | undefined): KubeObject {
  const obj = apiVersion && kind ? { ...raw, apiVersion, kind } : raw;
  const { managedFields: _m, ...metadata } = obj.metadata;
  const annotations = metadata['annotations'];
  if (annotations && typeof annotations === 'object' && 'kubectl.kubernetes.io/last-applied-configuration' in annotations) {
    const { 'kubectl.kubernetes.io/last-applied-configuration': _l, ...rest } = annotations as Record<string, string>;
    return { ...obj, metadata: { ...metadata, name: obj.metadata.name, annotations: rest } };
  }
  return { ...obj, metadata: { ...metadata, name: obj.metadata.name } };
}

export class Informer {
  readonly #o: Required<Omit<InformerOptions, 'log' | 'apiVersion' | 'kind' | 'labelSelector'>> &
    Pick<InformerOptions, 'log' | 'apiVersion' | 'kind' | 'labelSelector'>;
  #forbiddenLogged = false;
  readonly #cache = new Map<string, KubeObject>();
  #phase: Phase = 'stopped';
  #resourceVersion = '';
  #synced = false;
  readonly #backoff: Backoff;
  #stopWatch: (() => void) | undefined;
  #timer: TimerHandle | undefined;
  #resyncTimer: TimerHandle | undefined;
  /** Bumped on every (re)start, so that callbacks of an abandoned watch are ignored. */
  #epoch = 0;
  restarts = 0;
  relists = 0;

  constructor(options: InformerOptions) {
    this.#o = {
      resyncMs: 5 * 60_000,
      backoffInitialMs: 250,
      backoffMaxMs: 30_000,
      maxObjects: 200_000,
      watchTimeoutSeconds: 300,
      optional: false,
      ...options,
    };
    this.#backoff = new Backoff({ initialMs: this.#o.backoffInitialMs, maxMs: this.#o.backoffMaxMs });
  }

  get name(): string {
    return this.#o.name;
  }

  /** True once the first list has completed. */
  get synced(): boolean {
    return this.#synced;
  }

  list(): KubeObject[] {
    return [...this.#cache.values()];
  }

  /** The cached object `namespace/name` (`name` alone when cluster-scoped). */
  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#cache.get(cacheKey(namespace, name));
  }

  get size(): number {
    return this.#cache.size;
  }

  start(): void {
    if (this.#phase !== 'stopped') return;
    this.#relist();
    this.#armResync();
  }

  stop(): void {
    this.#phase = 'stopped';
    this.#epoch++;
    this.#stopWatch?.();
    this.#stopWatch = undefined;
    this.#timer?.cancel();
    this.#resyncTimer?.cancel();
  }

  #armResync(): void {
    this.#resyncTimer = this.#o.scheduler.after(this.#o.resyncMs, () => {
      if (this.#phase === 'stopped') return;
      this.#o.log.debug('informer resync', { informer: this.#o.name });
      this.#relist();
      this.#armResync();
    });
  }

  #relist(): void {
    const epoch = ++this.#epoch;
    this.#stopWatch?.();
    this.#stopWatch = undefined;
    this.#timer?.cancel();
    this.#phase = 'listing';
    this.relists++;
    const selector = this.#o.labelSelector;
    const listPath = selector ? `${this.#o.path}?labelSelector=${encodeURIComponent(selector)}` : this.#o.path;
    this.#o.client
      .request('GET', listPath)
      .then((res) => {
        if (epoch !== this.#epoch) return;
        if (res.status !== 200) throw new ListError(`list ${listPath}: HTTP ${res.status}`, res.status);
        this.#forbiddenLogged = false;
        const body = res.body as { items?: unknown; metadata?: { resourceVersion?: unknown } };
        const items = Array.isArray(body.items) ? body.items : [];
        this.#replace(items.filter(isKubeObject));
        this.#resourceVersion = typeof body.metadata?.resourceVersion === 'string' ? body.metadata.resourceVersion : '';
        this.#synced = true;
        this.#watch(epoch);
      })
      .catch((err: unknown) => {
        if (epoch !== this.#epoch) return;
        if (this.#o.optional && err instanceof ListError && err.status === 403) {
          // Not granted: nothing of this kind can be read. Say so once; the rest goes on.
          if (!this.#forbiddenLogged)
            this.#o.log.warn('informer not allowed to list; continuing without it', { informer: this.#o.name, error: err.message });
          this.#forbiddenLogged = true;
          const had = this.#cache.size > 0 || !this.#synced;
          this.#cache.clear();
          this.#synced = true;
          if (had) this.#o.onChange();
        } else this.#o.log.warn('informer list failed', { informer: this.#o.name, error: String(err) });
        this.#retry(() => this.#relist());
      });
  }

  #replace(items: KubeObject[]): void {
    const seen = new Set<string>();
    let changed = false;
    for (const raw of items) {
      const obj = slim(raw, this.#o.apiVersion, this.#o.kind);
      const key = objectKey(obj);
      seen.add(key);
      const old = this.#cache.get(key);
      if (old?.metadata.resourceVersion !== obj.metadata.resourceVersion || old === undefined) {
        if (this.#cache.size >= this.#o.maxObjects && !old) continue;
        this.#cache.set(key, obj);
        changed = true;
      }
    }
    for (const key of [...this.#cache.keys()]) {
      if (!seen.has(key)) {
        this.#cache.delete(key);
        changed = true;
      }
    }
    if (changed) this.#o.onChange();
  }

  #watch(epoch: number): void {
    this.#phase = 'watching';
    const query = {
      resourceVersion: this.#resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: this.#o.watchTimeoutSeconds,
      ...(this.#o.labelSelector ? { labelSelector: this.#o.labelSelector } : {}),
    };
    let gone = false;
    this.#o.client
      .watch(
        this.#o.path,
        query,
        (type, object) => {
          if (epoch !== this.#epoch) return;
          if (type === 'ERROR') {
            const code = (object as { code?: unknown }).code;
            if (code === 410) gone = true;
            this.#o.log.warn('informer watch error event', { informer: this.#o.name, code: String(code) });
            return;
          }
          if (!isKubeObject(object)) return;
          if (typeof object.metadata.resourceVersion === 'string') this.#resourceVersion = object.metadata.resourceVersion;
          if (type === 'BOOKMARK') return;
          this.#backoff.reset(); // events flow: the connection is healthy
          const obj = slim(object, this.#o.apiVersion, this.#o.kind);
          const key = objectKey(obj);
          if (type === 'DELETED') {
            if (this.#cache.delete(key)) this.#o.onChange();
          } else if (type === 'ADDED' || type === 'MODIFIED') {
            if (!this.#cache.has(key) && this.#cache.size >= this.#o.maxObjects) {
              this.#o.log.error('informer is full; object ignored', { informer: this.#o.name, key, max: this.#o.maxObjects });
              return;
            }
            this.#cache.set(key, obj);
            this.#o.onChange();
          }
        },
        (err) => {
          if (epoch !== this.#epoch) return;
          const status = (err as { statusCode?: unknown } | null)?.statusCode;
          if (gone || status === 410) {
            this.#o.log.info('informer resourceVersion expired; relisting', { informer: this.#o.name });
            this.#relist();
          } else if (err) {
            this.restarts++;
            const backoffMs = this.#retry(() => this.#watch(this.#epoch));
            this.#o.log.warn('informer watch failed; restarting', { informer: this.#o.name, error: String(err), backoffMs });
          } else {
            // The server closed the watch (timeoutSeconds): continue from where we are.
            this.#watch(epoch);
          }
        },
      )
      .then((stop) => {
        if (epoch !== this.#epoch) stop();
        else this.#stopWatch = stop;
      })
      .catch((err: unknown) => {
        if (epoch !== this.#epoch) return;
        this.restarts++;
        this.#o.log.warn('informer watch could not start', { informer: this.#o.name, error: String(err) });
        this.#retry(() => this.#watch(this.#epoch));
      });
  }

  /** Runs `fn` after the next backoff delay (with jitter, doubling up to the maximum); returns the delay. */
  #retry(fn: () => void): number {
    this.#phase = 'backoff';
    const wait = this.#backoff.next();
    this.#timer = this.#o.scheduler.after(wait, () => {
      if (this.#phase === 'stopped') return;
      fn();
    });
    return wait;
  }
}
