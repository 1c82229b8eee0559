/**
 * The circuit breaker of one backend (CircuitBreakerPolicy `breaker`), a state machine on an
 * injected clock and timers:
 *
 * - CLOSED admits every call and records its outcome in a sliding window (window.ts). It opens
 *   after `consecutiveFailures` failures in a row, or — once the window holds `minimumCalls`
 *   calls — when the failure rate reaches `failureRatePercent` or the slow-call rate reaches
 *   `slowCall.ratePercent`.
 * - OPEN rejects every call (fail fast) for the open duration: base × (multiplier)^(trips − 1),
 *   at most max, made shorter or longer at random by up to jitterPercent (trips: openings since
 *   the breaker last closed). Then it turns HALF_OPEN (checked when a call or a reader asks).
 * - HALF_OPEN admits at most `maxProbes` calls at once (the rest fail fast: they do not wait),
 *   closes after `successThreshold` successful probes, and opens again (one trip more) on a failed
 *   or slow probe, or on a probe that has neither answered nor failed after `probeTimeoutMs`.
 *
 * `acquire` hands out a permit (a number: the state generation and the probe slot) that the call
 * gives back with `record` (a success or a failure) or `release` (a neutral outcome). Outcomes of
 * calls admitted before the last transition are ignored, so a late answer never counts twice.
 */
import type { BreakerIR } from '@jarvis/api';
import type { Clock, TimerHandle, Timers } from '../../clock.js';
import { CountWindow, TimeWindow, type OutcomeWindow } from './window.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

/** `acquire` refused the call: the breaker is open, or every half-open probe slot is taken. */
export const REJECTED = -1;

/** Probe slots per generation (maxProbes ≤ 100 in the API). */
const SLOTS = 128;

export interface BreakerDeps {
  /** Monotonic ms. */
  readonly clock: Clock;
  readonly timers: Timers;
  /** Uniform in [0, 1): the open duration's jitter. */
  readonly random: () => number;
  readonly onTransition?: (from: BreakerState, to: BreakerState) => void;
}

/** What `GET /admin/backends` shows of a breaker. */
export interface BreakerView {
  readonly state: BreakerState;
  /** Calls, failures and slow calls in the window (CLOSED). */
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
  readonly consecutiveFailures: number;
  /** Openings since the breaker last closed. */
  readonly trips: number;
  /** OPEN: ms until it turns HALF_OPEN. */
  readonly openForMs?: number;
  /** HALF_OPEN: probes in flight and successful so far. */
  readonly probes?: { readonly inFlight: number; readonly succeeded: number };
}

export class CircuitBreaker {
  #state: BreakerState = 'closed';
  /** Bumped on every transition: permits of an older generation are ignored. */
  #generation = 1;
  readonly #window: OutcomeWindow;
  #consecutive = 0;
  #trips = 0;
  #openUntil = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  readonly #freeSlots: number[] = [];
  readonly #probeTimers: (TimerHandle | undefined)[];

  constructor(
    readonly ir: BreakerIR,
    private readonly deps: BreakerDeps,
  ) {
    this.#window = ir.window.type === 'Count' ? new CountWindow(ir.window.size) : new TimeWindow(ir.window.durationMs);
    const probes = Math.min(ir.halfOpen.maxProbes, SLOTS - 1);
    this.#probeTimers = new Array<TimerHandle | undefined>(probes + 1).fill(undefined);
    for (let slot = probes; slot >= 1; slot--) this.#freeSlots.push(slot);
  }

  /** The state now (an OPEN breaker whose time is up turns HALF_OPEN here). */
  get state(): BreakerState {
    this.#refresh();
    return this.#state;
  }

  /** Whether a call now would be refused: OPEN, or HALF_OPEN with every probe slot taken. */
  rejects(): boolean {
    this.#refresh();
    return this.#state === 'open' || (this.#state === 'half_open' && this.#freeSlots.length === 0);
  }

  /** ms until the breaker admits a call again: for Retry-After (at least 1000 while half-open probes are all taken). */
  retryAfterMs(): number {
    this.#refresh();
    if (this.#state === 'open') return Math.max(0, this.#openUntil - this.deps.clock.now());
    return this.#state === 'half_open' && this.#freeSlots.length === 0 ? 1000 : 0;
  }

  /** A permit for one call, or REJECTED. */
  acquire(): number {
    this.#refresh();
    if (this.#state === 'closed') return this.#generation * SLOTS;
    if (this.#state === 'open') return REJECTED;
    const slot = this.#freeSlots.pop();
    if (slot === undefined) return REJECTED;
    this.#probesInFlight++;
    const generation = this.#generation;
    this.#probeTimers[slot] = this.deps.timers.after(this.ir.halfOpen.probeTimeoutMs, () => {
      this.#probeTimers[slot] = undefined;
      // A hung probe: the backend has not shown it recovered.
      if (this.#generation === generation && this.#state === 'half_open') this.#open();
    });
    return this.#generation * SLOTS + slot;
  }

  /** The outcome of an admitted call: a failure, or a success (slow or not). */
  record(permit: number, failed: boolean, slow: boolean): void {
    if (permit < 0 || Math.floor(permit / SLOTS) !== this.#generation) return;
    const slot = permit % SLOTS;
    if (slot === 0) {
      if (this.#state !== 'closed') return;
      this.#window.add(this.deps.clock.now(), failed, slow);
      this.#consecutive = failed ? this.#consecutive + 1 : 0;
      if (this.#shouldOpen()) this.#open();
      return;
    }
    if (this.#state !== 'half_open' || !this.#freeSlot(slot)) return;
    if (failed || (slow && this.ir.slowCall !== undefined)) {
      this.#open();
      return;
    }
    this.#probeSuccesses++;
    if (this.#probeSuccesses >= this.ir.halfOpen.successThreshold) this.#close();
  }

  /** An admitted call ended with a neutral outcome (a 4xx, the client left): it counts neither way. */
  release(permit: number): void {
    if (permit < 0 || Math.floor(permit / SLOTS) !== this.#generation) return;
    const slot = permit % SLOTS;
    if (slot !== 0 && this.#state === 'half_open') this.#freeSlot(slot);
  }

  view(): BreakerView {
    this.#refresh();
    const now = this.deps.clock.now();
    return {
      state: this.#state,
      calls: this.#window.calls(now),
      failures: this.#window.failures(now),
      slow: this.#window.slow(now),
      consecutiveFailures: this.#consecutive,
      trips: this.#trips,
      ...(this.#state === 'open' ? { openForMs: Math.max(0, this.#openUntil - now) } : {}),
      ...(this.#state === 'half_open' ? { probes: { inFlight: this.#probesInFlight, succeeded: this.#probeSuccesses } } : {}),
    };
  }

  /** Cancels the probe timers (the breaker is dropped with its backend). */
  stop(): void {
    this.#clearProbes();
  }

  #shouldOpen(): boolean {
    const ir = this.ir;
    if (ir.consecutiveFailures !== undefined && this.#consecutive >= ir.consecutiveFailures) return true;
    const now = this.deps.clock.now();
    const calls = this.#window.calls(now);
    if (calls < ir.minimumCalls) return false;
    if (this.#window.failures(now) * 100 >= ir.failureRatePercent * calls) return true;
    return ir.slowCall !== undefined && this.#window.slow(now) * 100 >= ir.slowCall.ratePercent * calls;
  }

  #freeSlot(slot: number): boolean {
    const timer = this.#probeTimers[slot];
    if (timer === undefined) return false; // already freed (timed out)
    timer.cancel();
    this.#probeTimers[slot] = undefined;
    this.#freeSlots.push(slot);
    this.#probesInFlight--;
    return true;
  }

  #clearProbes(): void {
    for (let slot = 1; slot < this.#probeTimers.length; slot++) {
      const timer = this.#probeTimers[slot];
      if (timer === undefined) continue;
      timer.cancel();
      this.#probeTimers[slot] = undefined;
      this.#freeSlots.push(slot);
    }
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
  }

  /** The open duration of trip number `trips`: base × multiplier^(trips − 1), jittered, at most max. */
  #openDuration(): number {
    const { baseMs, maxMs, multiplierPercent, jitterPercent } = this.ir.openDuration;
    const grown = Math.min(maxMs, baseMs * (multiplierPercent / 100) ** Math.max(0, this.#trips - 1));
    const jitter = (jitterPercent / 100) * (2 * this.deps.random() - 1);
    return Math.max(1, Math.min(maxMs, grown * (1 + jitter)));
  }

  #open(): void {
    const from = this.#state;
    this.#trips++;
    this.#clearProbes();
    this.#state = 'open';
    this.#generation++;
    this.#openUntil = this.deps.clock.now() + this.#openDuration();
    this.#window.reset();
    this.#consecutive = 0;
    this.deps.onTransition?.(from, 'open');
  }

  #close(): void {
    this.#clearProbes();
    this.#state = 'closed';
    this.#generation++;
    this.#trips = 0;
    this.#window.reset();
    this.#consecutive = 0;
    this.deps.onTransition?.('half_open', 'closed');
  }

  #refresh(): void {
    if (this.#state !== 'open' || this.deps.clock.now() < this.#openUntil) return;
    this.#state = 'half_open';
    this.#generation++;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    this.deps.onTransition?.('open', 'half_open');
  }
}
