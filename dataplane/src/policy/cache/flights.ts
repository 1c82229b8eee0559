/**
 * Single-flight: identical misses in flight at once share one upstream call. The first request
 * for a key leads (it goes upstream); requests for the same key that arrive while it is in the
 * air follow: they wait for its answer, at most maxWait after the flight took off. When the
 * leader's answer is stored, every follower is answered from it; when the flight times out, or
 * the answer cannot be stored (an error, `no-store`), the followers go upstream themselves — the
 * flight leaves the table, so the next request for the key leads a new one.
 *
 * Bounded: at most `maxFlights` keys in the air per policy and MAX_FOLLOWERS per flight; past
 * either, a request simply goes upstream.
 */
import type { Clock, TimerHandle, Timers } from '../../clock.js';
import type { CachedResponse } from './entry.js';
import { KeyTable, keyHash, type KeyedEntry } from './key-table.js';

export const MAX_FOLLOWERS = 65_536;

/** What followers get: an answer to serve (fresh, or stale when it covered an upstream error). */
export interface FlightResult {
  readonly response: CachedResponse;
  readonly stale: boolean;
}

type Follower = (result: FlightResult | undefined) => void;

export class Flight implements KeyedEntry {
  /** Made by the first follower: most flights have none. */
  #followers: Follower[] | undefined = undefined;
  #settled = false;
  #timer: TimerHandle | undefined;

  constructor(
    readonly key: string,
    readonly keyHash: number,
    private readonly table: Flights,
    /** Wall-clock ms the flight took off; followers wait until `startedAt + maxWaitMs` at most. */
    readonly startedAt: number,
    readonly maxWaitMs: number,
  ) {}

  get settled(): boolean {
    return this.#settled;
  }

  get followers(): number {
    return this.#followers?.length ?? 0;
  }

  /** Waits for the leader's answer; undefined: go upstream yourself. */
  follow(): Promise<FlightResult | undefined> | undefined {
    if (this.#settled || this.followers >= MAX_FOLLOWERS) return undefined;
    // The timer is armed by the first follower: most flights have none and never need one.
    if (this.#timer === undefined) {
      const left = this.startedAt + this.maxWaitMs - this.table.clock.now();
      if (left <= 0) {
        this.settle(undefined);
        return undefined;
      }
      this.#timer = this.table.timers.after(left, () => this.settle(undefined));
    }
    const followers = (this.#followers ??= []);
    return new Promise((resolve) => followers.push(resolve));
  }

  /** Lands the flight: followers get `result` (undefined sends them upstream). Once only. */
  settle(result: FlightResult | undefined): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#timer?.cancel();
    this.table.remove(this);
    const followers = this.#followers;
    this.#followers = undefined;
    if (followers) for (const f of followers) f(result);
  }
}

/** The flights in the air, by key (in a table of key hashes, as L1's: key-table.ts). */
export class Flights {
  readonly #flights = new KeyTable<Flight>();

  constructor(
    readonly maxFlights: number,
    /** @internal (Flight) */
    readonly timers: Timers,
    /** @internal (Flight) */
    readonly clock: Clock,
  ) {}

  get size(): number {
    return this.#flights.size;
  }

  /** The flight in the air for `key` (`hash`: its keyHash, when the caller has it), if any. */
  get(key: string, hash = keyHash(key)): Flight | undefined {
    return this.#flights.get(key, hash);
  }

  /**
   * Starts a flight for `key`, led by the caller, taking off at `now` (the clock's reading, when
   * the caller has none); undefined when one is in the air or the table is full.
   */
  lead(key: string, maxWaitMs: number, now?: number, hash = keyHash(key)): Flight | undefined {
    if (this.#flights.size >= this.maxFlights || this.#flights.get(key, hash) !== undefined) return undefined;
    const flight = new Flight(key, hash, this, now ?? this.clock.now(), maxWaitMs);
    this.#flights.add(flight);
    return flight;
  }

  /** @internal (Flight.settle) */
  remove(flight: Flight): void {
    this.#flights.delete(flight);
  }
}
