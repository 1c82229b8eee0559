/**
 * The runtime of one CachePolicy in one gateway: its L1, its local version table and its flights
 * in the air, shared by every route the policy covers (keys carry the route). Made per compiled
 * config; when the config is put in force, a PolicyCache whose policy did not change takes over
 * its predecessor's state (`adopt`), so a config reload neither empties the cache nor forgets an
 * invalidation.
 */
import type { CacheIR } from '@jarvis/api';
import type { Clock, Timers } from '../../clock.js';
import { Flights } from './flights.js';
import type { Keyed } from './key.js';
import { L1Cache, type L1Entry, type L1Item, type UpstreamAnswer } from './lru.js';
import { ALL, VersionTable, keyTag } from './versions.js';

/** Most invalidated tags a policy remembers locally (older bumps turn into a floor, versions.ts). */
export const MAX_LOCAL_VERSIONS = 100_000;
/** Most distinct keys in flight at once per policy. */
export const MAX_FLIGHTS = 100_000;

interface State {
  readonly l1: L1Cache;
  readonly versions: VersionTable;
  readonly flights: Flights;
}

export interface PolicyCacheDeps {
  readonly clock: Clock;
  readonly timers: Timers;
}

export class PolicyCache {
  /** `<ns>/<name>` of the policy. */
  readonly id: string;
  /** What must be equal for a new config's cache to adopt this one's state. */
  readonly signature: string;
  /** The longest a copy is kept after it stops being fresh (the longer stale window). */
  readonly staleMs: number;
  #state: State;

  constructor(
    readonly ir: CacheIR,
    deps: PolicyCacheDeps,
  ) {
    this.id = ir.namespace;
    this.signature = JSON.stringify({ ...ir, source: { ...ir.source, generation: 0 } });
    this.staleMs = Math.max(ir.staleWhileRevalidateMs ?? 0, ir.staleIfErrorMs ?? 0);
    this.#state = {
      l1: new L1Cache({ maxEntries: ir.l1.maxEntries, maxBytes: ir.l1.maxBytes }, deps.clock),
      versions: new VersionTable(MAX_LOCAL_VERSIONS),
      flights: new Flights(MAX_FLIGHTS, deps.timers, deps.clock),
    };
  }

  get l1(): L1Cache {
    return this.#state.l1;
  }

  get versions(): VersionTable {
    return this.#state.versions;
  }

  get flights(): Flights {
    return this.#state.flights;
  }

  /** The L1 entry under `key` (an identity, key.ts) if it is still valid (an invalidated one is dropped). */
  lookup(key: string, hash?: number): L1Entry | undefined {
    const { l1, versions } = this.#state;
    const item = l1.get(key, hash);
    if (item === undefined) return undefined;
    if (versions.valid(item.seq, item, item.tags)) return item;
    l1.delete(key);
    return undefined;
  }

  /** Stores an L1 entry for `keyed` (whose key is item.key) unless an invalidation happened since its lookup (its seq). */
  store(item: L1Item, keyed: Keyed): boolean {
    const { l1, versions } = this.#state;
    if (!versions.valid(item.seq, keyed, item.response.tags)) return false;
    return l1.set(item);
  }

  /** Stores an upstream's answer for `keyed` in L1 (see L1Cache.setAnswer) unless an invalidation happened since its lookup. */
  storeAnswer(a: UpstreamAnswer, keyed: Keyed): boolean {
    const { l1, versions } = this.#state;
    if (!versions.valid(a.seq, keyed, a.tags)) return false;
    return l1.setAnswer(a);
  }

  /**
   * Invalidates locally: tags, and keys by their ids, by version (an entry invalidated by key
   * leaves L1 when it is next looked up, or by eviction: L1 finds entries by identity, not by
   * id); the whole policy when `all`.
   */
  invalidate(tags: readonly string[], ids: readonly string[], all: boolean): void {
    const { l1, versions } = this.#state;
    if (all) {
      versions.bump(ALL);
      l1.clear();
    }
    for (const t of tags) versions.bump(t);
    for (const id of ids) versions.bump(keyTag(id));
  }

  /** Drops every L1 copy (invalidations may have been missed); entries in flight are not stored. */
  dropL1(): void {
    this.#state.versions.bump(ALL);
    this.#state.l1.clear();
  }

  /** Takes over `previous`'s state when the policy is the same; true if it did. */
  adopt(previous: PolicyCache): boolean {
    if (previous === this || previous.id !== this.id || previous.signature !== this.signature) return false;
    this.#state = previous.#state;
    return true;
  }

  sharesStateWith(other: PolicyCache): boolean {
    return this.#state === other.#state;
  }
}
