/**
 * A ticket is one request (or one async job) asking a gate for an in-flight slot. It carries what
 * the scheduler orders by — class, flow, deadline — and the links of the intrusive lists and the
 * deadline heap it sits in while it waits, so that removing a ticket that left (client gone,
 * deadline, shed) costs O(1) or O(log n) and allocates nothing.
 */
import type { Flow } from './scheduler.js';

/** Why a waiting ticket was refused. */
export type RejectReason =
  /** The queue was full and nothing of a lower class could make room. */
  | 'full'
  /**
   * Removed to make room for a ticket of a higher class, because the limit shrank and it could no
   * longer be served in time, or because a degradation trigger sheds its class (with a ShedCause).
   */
  | 'shed'
  /** Its deadline passed while it waited. */
  | 'expired';

/** Why a DegradationPolicy trigger sheds a ticket's priority class (shedPriorityClasses). */
export interface ShedCause {
  /** The active trigger. */
  readonly trigger: string;
  /** The DegradationPolicy, `namespace/name`. */
  readonly policy: string;
  /** The class's name. */
  readonly priorityClass: string;
  /** Seconds (at least 1) until the trigger may deactivate at the earliest: the Retry-After. */
  readonly retryAfterSeconds: number;
}

/** Whoever waits on a ticket: told once, when it is admitted or refused. */
export interface TicketOwner<T extends Ticket = Ticket> {
  admitted(ticket: T): void;
  /** `cause`: only for a ticket shed because a degradation trigger sheds its class. */
  rejected(ticket: T, reason: RejectReason, cause?: ShedCause): void;
}

/** Where a ticket is: not yet at the gate, waiting, holding a slot (in flight), or finished with. */
export const TicketState = { New: 0, Waiting: 1, Running: 2, Done: 3 } as const;
export type TicketState = (typeof TicketState)[keyof typeof TicketState];

export class Ticket {
  state: TicketState = TicketState.New;
  /** Clock reading when it started to wait (0 when admitted at once). */
  enqueuedAt = 0;
  /** Clock reading when it got its slot. */
  admittedAt = 0;
  /** The adaptive limit's epoch when it got its slot (see GradientController.epoch). */
  epoch = 0;

  // ── links, owned by the scheduler ──
  /** The flow it waits in (its own, or the overflow flow); undefined when not waiting. */
  flow$: Flow | undefined = undefined;
  /** In its flow's FIFO. */
  flowPrev: Ticket | undefined = undefined;
  flowNext: Ticket | undefined = undefined;
  /** In its class's arrival order (for shedding the newest). */
  classPrev: Ticket | undefined = undefined;
  classNext: Ticket | undefined = undefined;
  /** Index in the deadline heap, -1 when not in it. */
  heapIndex = -1;

  constructor(
    /** Index of its priority class (0 is served first). */
    readonly cls: number,
    /** Its flow (tenant, user, …) inside the class; '' when the queue has no fairness. */
    readonly flow: string,
    /** Clock reading after which it must not be admitted; Infinity for none. */
    readonly deadline: number,
    readonly owner: TicketOwner,
    /** Async jobs: never shed or expired, and not counted against maxQueued (their workers bound them). */
    readonly durable = false,
  ) {}
}
