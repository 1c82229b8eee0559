/**
 * Exponentially decaying request counters: O(1) per event, no buckets, no timers. With time
 * constant τ a steady stream of r requests per ms holds r·τ, i.e. the number of requests in the
 * last τ — the decayed counterpart of a window of τ.
 */

export class DecayingCounter {
  readonly tauMs: number;
  readonly #start: number;
  #value = 0;
  #at: number;

  constructor(tauMs: number, now: number) {
    this.tauMs = Math.max(1, tauMs);
    this.#start = now;
    this.#at = now;
  }

  add(now: number, weight = 1): void {
    if (now > this.#at) {
      this.#value *= Math.exp((this.#at - now) / this.tauMs);
      this.#at = now;
    }
    this.#value = Math.max(0, this.#value + weight);
  }

  /** Decayed count at `now` (about the number of events in the last τ). */
  value(now: number): number {
    return now > this.#at ? this.#value * Math.exp((this.#at - now) / this.tauMs) : this.#value;
  }

  /**
   * Events per second. Corrected for the counter's age (the decayed sum of a counter younger than
   * τ covers less than τ), so a fresh counter reports the rate it has seen, not a fraction of it.
   */
  rate(now: number): number {
    const age = Math.max(0, now - this.#start);
    const span = Math.max(1, -this.tauMs * Math.expm1(-age / this.tauMs));
    return (this.value(now) / span) * 1000;
  }
}

/** A route's share of its gateway's peer counter. */
export interface PeerMember {
  readonly counter: DecayingCounter;
}

/**
 * Traffic of all guarded routes of a gateway, for comparing one route with the others. Every
 * member counter has the same τ as the gateway counter, so the gateway counter is exactly the sum
 * of the members' and "the others" of a route cost O(1) to compute.
 */
export class PeerGroup {
  readonly tauMs: number;
  readonly #total: DecayingCounter;
  #members = 0;

  constructor(tauMs: number, now: number) {
    this.tauMs = Math.max(1, tauMs);
    this.#total = new DecayingCounter(this.tauMs, now);
  }

  get members(): number {
    return this.#members;
  }

  join(now: number): PeerMember {
    this.#members++;
    return { counter: new DecayingCounter(this.tauMs, now) };
  }

  leave(member: PeerMember, now: number): void {
    this.#members = Math.max(0, this.#members - 1);
    this.#total.add(now, -member.counter.value(now));
  }

  record(member: PeerMember, now: number): void {
    member.counter.add(now);
    this.#total.add(now);
  }

  /** Mean decayed count of the other members; NaN when the member is alone. */
  othersMean(member: PeerMember, now: number): number {
    if (this.#members <= 1) return Number.NaN;
    return Math.max(0, this.#total.value(now) - member.counter.value(now)) / (this.#members - 1);
  }
}
