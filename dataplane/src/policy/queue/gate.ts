/**
 * A gate: the in-flight bound of one queue (a route, or the backends of a policy) and the tickets
 * waiting for it. A ticket is admitted at once while there is room and nobody waits; otherwise it
 * waits in the scheduler's order until a slot is released (an event) or its deadline passes (one
 * timer, armed for the earliest deadline) — nothing polls. When the queue is full, the newest
 * ticket of the lowest class below the newcomer's is shed; when there is none, the newcomer is
 * refused.
 *
 * A ticket is admitted only while the time its answer needs is left of its deadline — the recent
 * upstream time of the gate's calls plus twice their recent deviation (as TCP's retransmission
 * timer estimates a round trip): with less, its answer could likely not come back in time (the
 * proxy would give up at the deadline and the upstream's work would be lost), so it is refused as
 * expired at that point instead of taking a slot and reaching the upstream at the last moment.
 *
 * A DegradationPolicy trigger that sheds a priority class (shedPriorityClasses) turns the class's
 * new tickets away (turnAway) and sheds its waiting ones (shedClass) — the queue stage decides.
 *
 * The limit is fixed (maxInFlight) or found by a GradientController from the upstream time of
 * the calls that end (release). When that limit shrinks, tickets that can no longer be admitted
 * before their deadline are shed at once, lowest class first, instead of waiting to expire.
 */
import type { Clock, TimerHandle, Timers } from '../../clock.js';
import { GradientController, type GradientOptions, type LimitChange } from './adaptive.js';
import { DeadlineHeap } from './deadlines.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { type Ticket, TicketState, type RejectReason, type ShedCause } from './ticket.js';

export interface GateOptions extends SchedulerOptions {
  /** The fixed limit; with adaptive, the highest the found limit may go. */
  readonly maxInFlight: number;
  /** Most tickets waiting (durable ones aside); 0 refuses at once when the limit is reached. */
  readonly maxQueued: number;
  /** Find the limit from latency instead. */
  readonly adaptive?: Omit<GradientOptions, 'maxLimit'>;
}

/** What a gate has done, for metrics (counted since it was made). */
export interface GateCounters {
  admitted: number;
  queued: number;
  rejected: number;
  shed: number;
  expired: number;
  cancelled: number;
}

/** Told about what happens at the gate (metrics); every member optional. */
export interface GateObserver {
  /** A ticket got a slot after waiting `waitMs` (0 when admitted at once). */
  admitted?(ticket: Ticket, waitMs: number): void;
  refused?(ticket: Ticket, reason: RejectReason): void;
  limitChanged?(limit: number, previous: number, why: LimitChange): void;
}

export type AcquireResult = 'admitted' | 'queued' | 'rejected';

export class Gate {
  readonly scheduler: Scheduler;
  readonly controller: GradientController | undefined;
  readonly counters: GateCounters = { admitted: 0, queued: 0, rejected: 0, shed: 0, expired: 0, cancelled: 0 };
  #inFlight = 0;
  readonly #deadlines = new DeadlineHeap();
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #dispatching = false;
  /** Smoothed upstream time of the calls that ended (ms), for Retry-After. */
  #rtt = 0;
  /** Mean deviation of the upstream time from #rtt (ms). */
  #rttVar = 0;
  observer: GateObserver = {};

  constructor(
    readonly options: GateOptions,
    private readonly clock: Clock,
    private readonly timers: Timers,
    random: () => number,
  ) {
    this.scheduler = new Scheduler(options);
    this.controller = options.adaptive
      ? new GradientController({ ...options.adaptive, maxLimit: options.maxInFlight }, clock, random, (limit, previous, why) =>
          this.#limitChanged(limit, previous, why),
        )
      : undefined;
  }

  get limit(): number {
    return this.controller ? this.controller.limit : this.options.maxInFlight;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Tickets waiting. */
  get waiting(): number {
    return this.scheduler.size;
  }

  /** How long the oldest waiting ticket has waited (ms), 0 when none waits. */
  oldestWaitMs(): number {
    const t = this.scheduler.oldest();
    return t ? Math.max(0, this.clock.now() - t.enqueuedAt) : 0;
  }

  /**
   * A Retry-After for a refused request (seconds, 1-60): how long the requests waiting now take to
   * be admitted at the current limit and the calls' recent upstream time.
   */
  retryAfterSeconds(): number {
    const perSlotMs = this.#rtt > 0 ? this.#rtt : 1000;
    const ms = ((this.scheduler.size + 1) * perSlotMs) / Math.max(1, this.limit);
    return Math.min(60, Math.max(1, Math.ceil(ms / 1000)));
  }

  /**
   * Asks for a slot. `admitted`: the ticket holds one now (its owner is not called). `queued`: its
   * owner's `admitted` or `rejected` is called later, once. `rejected`: the queue is full (the
   * owner is not called).
   */
  acquire(t: Ticket): AcquireResult {
    if (t.state !== TicketState.New) throw new Error('a ticket is used once');
    if (this.scheduler.size === 0 && this.#inFlight < this.limit) {
      this.#run(t);
      this.counters.admitted++;
      this.observer.admitted?.(t, 0);
      return 'admitted';
    }
    if (!t.durable && this.scheduler.bounded >= this.options.maxQueued) {
      const victim = this.scheduler.victimFor(t);
      if (!victim) {
        t.state = TicketState.Done;
        this.counters.rejected++;
        this.observer.refused?.(t, 'full');
        return 'rejected';
      }
      this.#refuse(victim, 'shed');
    }
    t.state = TicketState.Waiting;
    t.enqueuedAt = this.clock.now();
    this.scheduler.push(t);
    this.counters.queued++;
    if (Number.isFinite(t.deadline)) {
      this.#deadlines.push(t);
      if (t.deadline < this.#timerAt) this.#arm(t.deadline);
    }
    this.#dispatch();
    return 'queued';
  }

  /**
   * A new ticket refused before it asks for a slot, because a degradation trigger sheds its class:
   * counted and observed as shed; its owner is not called.
   */
  turnAway(t: Ticket): void {
    if (t.state !== TicketState.New) throw new Error('a ticket is used once');
    t.state = TicketState.Done;
    this.counters.shed++;
    this.observer.refused?.(t, 'shed');
  }

  /**
   * Sheds the waiting tickets of class `cls` that `select` picks (a degradation trigger sheds their
   * class; durable tickets, the jobs, never): each is refused at once with reason shed and `cause`.
   * Returns how many.
   */
  shedClass(cls: number, select: (t: Ticket) => boolean, cause: ShedCause): number {
    let n = 0;
    for (const t of this.scheduler.sheddableIn(cls)) {
      if (t.state !== TicketState.Waiting || !select(t)) continue;
      this.#refuse(t, 'shed', cause);
      n++;
    }
    return n;
  }

  /** The ticket's owner gives up waiting (the client went away); false when it was not waiting. */
  cancel(t: Ticket): boolean {
    if (t.state !== TicketState.Waiting) return false;
    this.#leaveQueue(t);
    t.state = TicketState.Done;
    this.counters.cancelled++;
    return true;
  }

  /**
   * The ticket's call is over: its slot goes to the next waiting ticket. `rttMs` (upstream time
   * of the call) feeds the adaptive limit; undefined when the call says nothing about the
   * upstream's latency (it never reached it, or the client went away).
   */
  release(t: Ticket, rttMs?: number): void {
    if (t.state !== TicketState.Running) return;
    t.state = TicketState.Done;
    this.#inFlight--;
    if (rttMs !== undefined) {
      if (this.#rtt === 0) {
        this.#rtt = rttMs;
        this.#rttVar = rttMs / 2;
      } else {
        this.#rttVar = 0.75 * this.#rttVar + 0.25 * Math.abs(this.#rtt - rttMs);
        this.#rtt = 0.9 * this.#rtt + 0.1 * rttMs;
      }
      this.controller?.sample(rttMs, t.epoch);
    }
    this.#dispatch();
  }

  #run(t: Ticket): void {
    t.state = TicketState.Running;
    t.admittedAt = this.clock.now();
    if (this.controller) t.epoch = this.controller.epoch;
    this.#inFlight++;
  }

  #leaveQueue(t: Ticket): void {
    this.scheduler.remove(t);
    this.#deadlines.remove(t);
  }

  #refuse(t: Ticket, reason: RejectReason, cause?: ShedCause): void {
    this.#leaveQueue(t);
    t.state = TicketState.Done;
    this.counters[reason === 'full' ? 'rejected' : reason]++;
    this.observer.refused?.(t, reason);
    t.owner.rejected(t, reason, cause);
  }

  /** Gives free slots to waiting tickets, in the scheduler's order. */
  #dispatch(): void {
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      while (this.#inFlight < this.limit) {
        const t = this.scheduler.pop();
        if (!t) break;
        this.#deadlines.remove(t);
        if (t.deadline - this.clock.now() < this.#needed()) {
          t.state = TicketState.Done;
          this.counters.expired++;
          this.observer.refused?.(t, 'expired');
          t.owner.rejected(t, 'expired');
          continue;
        }
        const waitMs = this.clock.now() - t.enqueuedAt;
        this.#run(t);
        this.counters.admitted++;
        this.observer.admitted?.(t, waitMs);
        t.owner.admitted(t);
      }
    } finally {
      this.#dispatching = false;
    }
  }

  /** The time an admitted call's answer likely needs (ms): the recent upstream time plus twice its deviation. */
  #needed(): number {
    return this.#rtt + 2 * this.#rttVar;
  }

  /** Arms the one timer for a deadline (it fires when the ticket has less than the time its answer needs left). */
  #arm(deadline: number): void {
    this.#timer?.cancel();
    this.#timerAt = deadline;
    this.#timer = this.timers.after(Math.max(0, deadline - this.#needed() - this.clock.now()), () => this.#expire());
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.clock.now();
    const needed = this.#needed();
    for (let t = this.#deadlines.peek(); t && t.deadline - needed <= now; t = this.#deadlines.peek()) this.#refuse(t, 'expired');
    const next = this.#deadlines.peek();
    if (next) this.#arm(next.deadline);
  }

  #limitChanged(limit: number, previous: number, why: LimitChange): void {
    this.observer.limitChanged?.(limit, previous, why);
    if (limit > previous) this.#dispatch();
    else if (why === 'gradient' && this.controller) {
      for (const t of this.scheduler.hopeless(this.clock.now(), this.controller.ratePerMs)) this.#refuse(t, 'shed');
    }
  }
}
