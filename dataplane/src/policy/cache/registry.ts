/**
 * Every CachePolicy's runtime in this gateway, owned by main.ts across config reloads, and the one
 * place invalidations go through — from the admin API (here: L1, then Redis, then a message to the
 * other gateways) and from other gateways' messages (L1 only).
 *
 * Config reloads: `prepare()` makes the PolicyCaches of a config being compiled (one per policy,
 * shared by its routes) beside the live ones; `commit()` puts them in force, each adopting its
 * predecessor's state when its policy did not change; `abort()` just drops them.
 */
import { randomBytes } from 'node:crypto';
import type { CacheIR } from '@jarvis/api';
import type { Clock, Timers } from '../../clock.js';
import { MAX_NAMES, encodeInvalidation, invalidationChannel, type Invalidation, type InvalidationMessage } from './bus.js';
import type { RedisLevel } from './l2.js';
import type { CacheOutcome } from './stage.js';
import { PolicyCache } from './policy.js';
import { ALL } from './versions.js';

export interface CacheRegistryDeps {
  readonly clock: Clock;
  readonly timers: Timers;
  /** The Redis level, when the gateway has Redis. */
  readonly l2?: RedisLevel;
  /** Key prefix of the Redis level (for the channel name). */
  readonly prefix?: string;
  /** Metrics: the counter of a policy's outcomes (made once per policy and stage). */
  readonly outcomes?: (policy: string) => (outcome: CacheOutcome) => void;
}

const IGNORE = (): void => {};

/** An invalidation asked for on the admin API. */
export interface InvalidateRequest {
  /** `<ns>/<name>`; every policy of the config when absent. */
  readonly policy?: string;
  readonly tags: readonly string[];
  readonly keys: readonly string[];
  readonly all: boolean;
}

export interface InvalidateResult {
  readonly policies: readonly string[];
  /** none: no policy uses Redis; ok: bumped in Redis and published; unavailable: only this gateway's L1. */
  readonly redis: 'none' | 'ok' | 'unavailable';
}

/** What one config's compile makes. */
export interface PendingCaches {
  /** The PolicyCache of `ir`'s policy in this config (one per policy). */
  cache(ir: CacheIR): PolicyCache;
  commit(): void;
  abort(): void;
}

export interface CacheStats {
  readonly policy: string;
  readonly l1: {
    readonly entries: number;
    readonly bytes: number;
    readonly pinned: number;
    readonly evictions: number;
    readonly maxEntries: number;
    readonly maxBytes: number;
  };
  readonly inFlight: number;
  readonly l2: boolean;
}

export class CacheRegistry {
  /** This process among the gateways (its own messages come back and are ignored). */
  readonly instance = randomBytes(9).toString('base64url');
  readonly channel: string;
  #live = new Map<string, PolicyCache>();
  /** Invalidation messages from other gateways applied, and ignored (unknown policy). */
  remote = { applied: 0, unknown: 0 };

  constructor(private readonly deps: CacheRegistryDeps) {
    this.channel = invalidationChannel(deps.prefix ?? 'jarvis:cache:');
  }

  get l2(): RedisLevel | undefined {
    return this.deps.l2;
  }

  /** Counts the outcomes of a policy's requests. */
  counter(policy: string): (outcome: CacheOutcome) => void {
    return this.deps.outcomes?.(policy) ?? IGNORE;
  }

  prepare(): PendingCaches {
    const made = new Map<string, PolicyCache>();
    let settled = false;
    return {
      cache: (ir) => {
        let c = made.get(ir.namespace);
        if (c === undefined) made.set(ir.namespace, (c = new PolicyCache(ir, this.deps)));
        return c;
      },
      commit: () => {
        if (settled) return;
        settled = true;
        this.replace(made.values());
      },
      abort: () => {
        settled = true;
      },
    };
  }

  /** Puts these caches in force (a later duplicate id wins); unchanged policies keep their state. */
  replace(caches: Iterable<PolicyCache>): void {
    const next = new Map<string, PolicyCache>();
    for (const c of caches) next.set(c.id, c);
    for (const c of next.values()) {
      const previous = this.#live.get(c.id);
      if (previous) c.adopt(previous);
    }
    this.#live = next;
  }

  policy(id: string): PolicyCache | undefined {
    return this.#live.get(id);
  }

  policies(): PolicyCache[] {
    return [...this.#live.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  stats(): CacheStats[] {
    return this.policies().map((p) => ({
      policy: p.id,
      l1: {
        entries: p.l1.size,
        bytes: p.l1.bytes,
        pinned: p.l1.pinnedCount,
        evictions: p.l1.evictions,
        maxEntries: p.l1.limits.maxEntries,
        maxBytes: p.l1.limits.maxBytes,
      },
      inFlight: p.flights.size,
      l2: p.ir.l2.enabled && this.deps.l2 !== undefined,
    }));
  }

  /**
   * Invalidates on this gateway's L1 at once, then in Redis (versions, deleted keys) and tells the
   * other gateways — for the policies that use Redis. Throws on an unknown policy or too many names.
   */
  async invalidate(req: InvalidateRequest): Promise<InvalidateResult> {
    if (req.tags.length + req.keys.length > MAX_NAMES) throw new RangeError(`at most ${MAX_NAMES} tags and keys at once`);
    let targets: PolicyCache[];
    if (req.policy !== undefined) {
      const p = this.#live.get(req.policy);
      if (p === undefined) throw new RangeError(`no CachePolicy ${req.policy} in the config`);
      targets = [p];
    } else targets = this.policies();
    for (const p of targets) p.invalidate(req.tags, req.keys, req.all);
    const l2 = this.deps.l2;
    const shared = targets.filter((p) => p.ir.l2.enabled || p.ir.invalidation.crossInstance);
    if (l2 === undefined || shared.length === 0) return { policies: targets.map((p) => p.id), redis: 'none' };
    const results = await Promise.all(
      shared.map(async (p) => {
        const inv: Invalidation = { policy: p.id, tags: req.tags, keys: req.keys, all: req.all };
        const tags = req.all ? [...req.tags, ALL] : req.tags;
        const bumped = p.ir.l2.enabled ? (await l2.invalidate(p.id, tags, req.keys, p.ir.l2.ttlMs + p.staleMs)) !== undefined : true;
        const sent = p.ir.invalidation.crossInstance ? await l2.publish(this.channel, encodeInvalidation(this.instance, inv)) : true;
        return bumped && sent;
      }),
    );
    return { policies: targets.map((p) => p.id), redis: results.every(Boolean) ? 'ok' : 'unavailable' };
  }

  /** Another gateway's invalidation: applied to this gateway's L1 of that policy. */
  applyRemote(m: InvalidationMessage): void {
    const p = this.#live.get(m.policy);
    if (p === undefined) {
      this.remote.unknown++;
      return;
    }
    this.remote.applied++;
    p.invalidate(m.tags, m.keys, m.all);
  }

  /** The subscription was interrupted: invalidations may have been missed, so every L1 is dropped. */
  dropAllL1(): void {
    for (const p of this.#live.values()) p.dropL1();
  }
}
