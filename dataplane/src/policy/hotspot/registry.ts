/**
 * All hot-key guards of the gateway: what `GET /admin/hotkeys` and the bounded top-K metric read,
 * and the peer group that lets a route compare its rate with the other routes.
 *
 * `replace` takes the guards of a newly compiled config. A guard of a route whose detection
 * settings did not change takes over its predecessor's state, so a config reload (say, a new
 * limit) neither forgets hot values nor resets baselines; guards of removed routes leave the
 * peer group.
 */
import { PeerGroup } from './decay.js';
import type { HotspotGuard } from './guard.js';
import type { HotKeyEntry } from './types.js';

/** Default τ of the peer comparison (the routes' decayed counts are compared over ~10 s). */
export const DEFAULT_PEER_WINDOW_MS = 10_000;

export interface HotspotRegistryOptions {
  /** τ of the peer comparison; defaults to DEFAULT_PEER_WINDOW_MS. */
  readonly peerWindowMs?: number;
}

export class HotspotRegistry {
  readonly #peers: PeerGroup;
  #guards = new Map<string, HotspotGuard>();

  /** Guards bring their own clocks; the registry reads no time itself. */
  constructor(options: HotspotRegistryOptions = {}) {
    this.#peers = new PeerGroup(options.peerWindowMs ?? DEFAULT_PEER_WINDOW_MS, 0);
  }

  /** Installs the guards of a new config (one per route id; a later duplicate wins). */
  replace(guards: Iterable<HotspotGuard>): void {
    const next = new Map<string, HotspotGuard>();
    for (const g of guards) next.set(g.routeId, g);
    const kept = new Set<HotspotGuard>();
    for (const g of next.values()) {
      const previous = this.#guards.get(g.routeId);
      if (previous && g.adopt(previous)) kept.add(previous);
    }
    for (const previous of this.#guards.values()) {
      if (!kept.has(previous) && next.get(previous.routeId) !== previous) previous.leavePeers();
    }
    for (const g of next.values()) g.joinPeers(this.#peers);
    this.#guards = next;
  }

  guard(routeId: string): HotspotGuard | undefined {
    return this.#guards.get(routeId);
  }

  guards(): IterableIterator<HotspotGuard> {
    return this.#guards.values();
  }

  get size(): number {
    return this.#guards.size;
  }

  /**
   * Every guard's top-K (see `HotspotGuard.topK`), ordered by route id, then parameter as the
   * route's guard lists them. Only these values may become metric labels.
   */
  topK(): HotKeyEntry[] {
    const ids = [...this.#guards.keys()].sort();
    const out: HotKeyEntry[] = [];
    for (const id of ids) {
      const g = this.#guards.get(id);
      if (g) out.push(...g.topK());
    }
    return out;
  }
}
