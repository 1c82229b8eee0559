/**
 * The hot-key stage of one route, compiled once from the route's HotspotIR at config load.
 *
 * Each watched parameter has a space-saving summary of its values with exponential forward decay
 * (Cormode et al., "Forward decay", ICDE 2009): an observation at time t weighs e^((t - t0)/τ), so
 * old observations fade relative to new ones without touching the summary; every ~64 τ all counts
 * are rescaled at once (amortised O(1)). τ = windowMs, so a value's decayed count is about its
 * requests in the last window, and a share is the value's decayed count over the route's.
 *
 * A value turns hot when the route's window holds ≥ minRequests and the value's guaranteed share
 * (space-saving lower bound) is ≥ activateSharePercent. It stays hot at least cooldownMs after the
 * last request that met that condition, then until its share falls below deactivateSharePercent
 * (or it leaves the summary, or the route's window falls under minRequests / 2). Between requests a
 * share does not change (the value and the route decay alike), so evaluating on the next request
 * or on a listing is exact; a quiet route cools through the minRequests rule.
 *
 * Values of a credential-like header or query parameter (see ../credentials.ts) are counted and
 * reported by digest only: the raw value never enters the summary, the top-K or the hot marks.
 *
 * Memory is bounded by the configuration: per parameter one summary of `capacity` counters and at
 * most `capacity` hot marks, whatever the number of distinct values seen.
 */
import type { Clock } from '../../clock.js';
import type { PeerGroup, PeerMember } from './decay.js';
import { SpaceSaving } from './sketch.js';
import { RouteSurge, type SurgeSnapshot } from './surge.js';
import type { HotKeyEntry, HotspotIR, HotValue } from './types.js';
import { credentialValueKey, hotspotParameterName, hotspotValueKey, isCredentialParameter, ROUTE_PARAMETER } from './value.js';

/** Summaries never hold more counters than this per parameter. */
export const MAX_CAPACITY = 1024;
/** Nor fewer. */
export const MIN_CAPACITY = 64;
/** Rescale the forward-decay weights once they reach e^64 (far from overflow, e^709). */
const RESCALE_EXPONENT = 64;

const NONE: readonly HotValue[] = Object.freeze([]);

/**
 * Counters per parameter: 8 × topK so the reported top-K is accurate, and at least 400 /
 * activateSharePercent so the space-saving error (≤ total / capacity) stays under a quarter of
 * the activation share; clamped to [MIN_CAPACITY, MAX_CAPACITY].
 */
export function hotspotCapacity(ir: Pick<HotspotIR, 'topK' | 'activateSharePercent'>): number {
  const wanted = Math.max(ir.topK * 8, Math.ceil(400 / Math.max(1, ir.activateSharePercent)), MIN_CAPACITY);
  return Math.min(MAX_CAPACITY, wanted);
}

interface HotMark {
  readonly since: number;
  refreshedAt: number;
}

interface ParameterState {
  readonly name: string;
  /** Values are credentials (x-api-key, authorization, ...): counted and reported by digest only. */
  readonly credential: boolean;
  readonly sketch: SpaceSaving;
  /** Hot values in the order they turned hot (the oldest is dropped when full). */
  readonly hot: Map<string, HotMark>;
}

/** Everything that learns from traffic; handed on to the next compiled guard when unchanged. */
interface GuardState {
  readonly parameters: readonly ParameterState[];
  readonly byName: ReadonlyMap<string, ParameterState>;
  readonly surge: RouteSurge | undefined;
  /** Forward-decay landmark and the route's weighted request total since it. */
  t0: number;
  last: number;
  routeTotal: number;
  peers: { readonly group: PeerGroup; readonly member: PeerMember } | undefined;
}

export interface HotspotGuardDeps {
  readonly clock: Clock;
}

export class HotspotGuard {
  readonly routeId: string;
  readonly ir: HotspotIR;
  /** Counters per parameter summary. */
  readonly capacity: number;
  /** Parameter names this guard watches, in IR order (see `hotspotParameterName`). */
  readonly parameters: readonly string[];
  /** Identity of the detection settings: guards with equal signatures can share state. */
  readonly signature: string;
  readonly #clock: Clock;
  readonly #tau: number;
  readonly #routeValue: HotValue;
  #state: GuardState;

  constructor(routeId: string, ir: HotspotIR, deps: HotspotGuardDeps) {
    if (ir.deactivateSharePercent > ir.activateSharePercent) {
      throw new RangeError(`hotspot of route ${routeId}: deactivateSharePercent must not exceed activateSharePercent`);
    }
    this.routeId = routeId;
    this.ir = ir;
    this.#clock = deps.clock;
    this.#tau = Math.max(1, ir.windowMs);
    this.capacity = hotspotCapacity(ir);
    this.parameters = [...new Set(ir.parameters.map(hotspotParameterName))];
    this.#routeValue = Object.freeze({ parameter: ROUTE_PARAMETER, value: routeId });
    this.signature = JSON.stringify([
      this.parameters,
      ir.windowMs,
      ir.topK,
      ir.minRequests,
      ir.activateSharePercent,
      ir.deactivateSharePercent,
      ir.cooldownMs,
      ir.routeSurge ?? null,
    ]);
    const now = this.#clock.now();
    const parameters = this.parameters.map((name) => ({
      name,
      credential: isCredentialParameter(name),
      sketch: new SpaceSaving(this.capacity),
      hot: new Map<string, HotMark>(),
    }));
    const rs = ir.routeSurge;
    this.#state = {
      parameters,
      byName: new Map(parameters.map((p) => [p.name, p])),
      surge: rs
        ? new RouteSurge(
            {
              multiplierPercent: rs.multiplierPercent,
              baselineWindowMs: rs.baselineWindowMs,
              comparePeers: rs.comparePeers,
              windowMs: ir.windowMs,
              minRequests: ir.minRequests,
              cooldownMs: ir.cooldownMs,
            },
            now,
          )
        : undefined,
      t0: now,
      last: now,
      routeTotal: 0,
      peers: undefined,
    };
  }

  /** Shadow: hot values are reported, the pipeline applies no stricter limit. */
  get enforced(): boolean {
    return this.ir.mode === 'Enforce';
  }

  /**
   * Counts one request of the route and returns which of its values are hot now: the entries of
   * `values` whose value is hot (the same objects, or a copy carrying the bounded key when the
   * value was hashed), then `{ parameter: 'Route', value: routeId }` when the route surges.
   * Entries for parameters this guard does not watch are ignored. No allocation when nothing is hot.
   */
  observe(routeId: string, values: readonly HotValue[]): readonly HotValue[] {
    const now = this.#clock.now();
    const s = this.#state;
    const w = this.#weight(s, now);
    s.routeTotal += w;
    const windowCount = s.routeTotal / w;
    let out: HotValue[] | undefined;
    for (const v of values) {
      const p = s.byName.get(v.parameter);
      if (p === undefined) continue;
      const key = p.credential ? credentialValueKey(v.value) : hotspotValueKey(v.value);
      const guaranteed = p.sketch.add(key, w);
      if (this.#evaluate(p, key, guaranteed / s.routeTotal, windowCount, now)) {
        (out ??= []).push(key === v.value ? v : { parameter: v.parameter, value: key });
      }
    }
    const peers = s.peers;
    if (peers) peers.group.record(peers.member, now);
    if (s.surge) {
      s.surge.record(now);
      if (this.#surging(s.surge, now)) {
        (out ??= []).push(routeId === this.routeId ? this.#routeValue : { parameter: ROUTE_PARAMETER, value: routeId });
      }
    }
    return out ?? NONE;
  }

  /**
   * Per parameter the top-K values by guaranteed share plus every hot value, then the route's
   * surge line (when routeSurge is configured). Bounded: at most parameters × (topK + capacity) + 1.
   */
  topK(): HotKeyEntry[] {
    const now = this.#clock.now();
    const s = this.#state;
    const w = this.#weight(s, now);
    const windowCount = s.routeTotal / w;
    const out: HotKeyEntry[] = [];
    for (const p of s.parameters) {
      const keys = new Set<string>();
      for (const e of p.sketch.top(this.ir.topK)) if (e.count - e.error > 0) keys.add(e.key);
      for (const key of p.hot.keys()) keys.add(key);
      const lines: HotKeyEntry[] = [];
      for (const key of keys) {
        const guaranteed = p.sketch.lowerBound(key);
        const share = s.routeTotal > 0 ? guaranteed / s.routeTotal : 0;
        const hot = this.#evaluate(p, key, share, windowCount, now);
        lines.push({
          routeId: this.routeId,
          parameter: p.name,
          value: key,
          share,
          estimatedRate: (guaranteed / w / this.#tau) * 1000,
          hot,
          since: hot ? (p.hot.get(key)?.since ?? null) : null,
        });
      }
      lines.sort((a, b) => b.share - a.share || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
      out.push(...lines);
    }
    const surge = this.surge();
    if (surge) {
      out.push({
        routeId: this.routeId,
        parameter: ROUTE_PARAMETER,
        value: this.routeId,
        share: surge.baselineRate > 0 ? surge.currentRate / surge.baselineRate : 0,
        estimatedRate: surge.currentRate,
        hot: surge.surging,
        since: surge.since,
      });
    }
    return out;
  }

  /** The route's rates and surge state; undefined without routeSurge. */
  surge(): SurgeSnapshot | undefined {
    const s = this.#state;
    if (!s.surge) return undefined;
    const now = this.#clock.now();
    const peers = s.peers;
    const own = peers ? peers.member.counter.value(now) : 0;
    const others = peers ? peers.group.othersMean(peers.member, now) : Number.NaN;
    return s.surge.snapshot(now, own, others);
  }

  /** Monitored values of a parameter (for tests and diagnostics); never above `capacity`. */
  summarySize(parameter: string): number {
    return this.#state.byName.get(parameter)?.sketch.size ?? 0;
  }

  /** Hot values currently marked for a parameter (bounded by `capacity`). */
  hotCount(parameter: string): number {
    return this.#state.byName.get(parameter)?.hot.size ?? 0;
  }

  /** Takes over what `previous` learned when its detection settings are the same; true if it did. */
  adopt(previous: HotspotGuard): boolean {
    if (previous === this || previous.routeId !== this.routeId || previous.signature !== this.signature) return false;
    this.#state = previous.#state;
    return true;
  }

  /** Joins the gateway's peer group (for comparePeers); a no-op when already in it. */
  joinPeers(group: PeerGroup): void {
    const s = this.#state;
    if (s.peers?.group === group) return;
    const now = this.#clock.now();
    if (s.peers) s.peers.group.leave(s.peers.member, now);
    s.peers = { group, member: group.join(now) };
  }

  /** Leaves the peer group (the route is gone from the config). */
  leavePeers(): void {
    const s = this.#state;
    if (!s.peers) return;
    s.peers.group.leave(s.peers.member, this.#clock.now());
    s.peers = undefined;
  }

  /** Whether this guard's state is shared with `other` (it adopted it or was adopted). */
  sharesStateWith(other: HotspotGuard): boolean {
    return this.#state === other.#state;
  }

  #surging(surge: RouteSurge, now: number): boolean {
    const peers = this.#state.peers;
    if (!peers || !surge.settings.comparePeers) return surge.evaluate(now, 0, Number.NaN);
    return surge.evaluate(now, peers.member.counter.value(now), peers.group.othersMean(peers.member, now));
  }

  /** The forward-decay weight of an observation at `now`, rescaling every ~64 τ. */
  #weight(s: GuardState, now: number): number {
    if (now > s.last) s.last = now;
    let exponent = (s.last - s.t0) / this.#tau;
    if (exponent > RESCALE_EXPONENT) {
      const factor = Math.exp(-exponent);
      for (const p of s.parameters) p.sketch.rescale(factor);
      s.routeTotal *= factor;
      s.t0 = s.last;
      exponent = 0;
    }
    return Math.exp(exponent);
  }

  #evaluate(p: ParameterState, key: string, share: number, windowCount: number, now: number): boolean {
    const ir = this.ir;
    const mark = p.hot.get(key);
    const active = windowCount >= ir.minRequests && share * 100 >= ir.activateSharePercent;
    if (mark === undefined) {
      if (!active) return false;
      if (p.hot.size >= this.capacity) {
        const oldest = p.hot.keys().next();
        if (!oldest.done) p.hot.delete(oldest.value);
      }
      p.hot.set(key, { since: now, refreshedAt: now });
      return true;
    }
    if (active) {
      mark.refreshedAt = now;
      return true;
    }
    if (now - mark.refreshedAt < ir.cooldownMs) return true;
    if (share > 0 && share * 100 >= ir.deactivateSharePercent && windowCount >= ir.minRequests / 2) return true;
    p.hot.delete(key);
    return false;
  }
}

/** Compiles a route's hotspot section (once, at config load). */
export function compileHotspotGuard(routeId: string, ir: HotspotIR, deps: HotspotGuardDeps): HotspotGuard {
  return new HotspotGuard(routeId, ir, deps);
}
