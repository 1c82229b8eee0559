/**
 * The order in which waiting tickets get a slot — pure logic, no time, no I/O.
 *
 * - Between classes: strict priority (class 0 first), except that a class with a share gets at
 *   least that share of the dispatches while it has tickets waiting: at every dispatch each
 *   waiting class with a share earns share/100 of a credit; a class whose credit reaches 1 is
 *   served ahead of strict priority (the largest credit first) and pays 1. A class earns nothing
 *   while it waits for nothing, so an idle class banks no credit.
 * - Inside a class: deficit round robin over flows (tenants, users, …) with weights (Shreedhar &
 *   Varghese): the flow at the head of the round gets quantum × weight when its deficit cannot pay
 *   for its next ticket and goes to the back; a flow is served while its deficit pays. Every
 *   ticket costs 1, so a flow of weight w gets w tickets per round (with quantum 1).
 * - Shedding: when the queue is full, the newest ticket of the lowest class below the newcomer's
 *   makes room; nothing of the newcomer's class or above is ever shed for it.
 *
 * Memory: one Flow per flow with tickets waiting (removed when its last ticket leaves), bounded
 * by maxFlows — beyond it, new flows share one overflow flow.
 */
import type { Ticket } from './ticket.js';

/** The flow that flows beyond maxFlows share. */
export const OVERFLOW_FLOW = '\u0000overflow';

export interface ClassSpec {
  /** Percent of dispatches guaranteed while waiting; 0: strict priority only. */
  readonly sharePercent: number;
}

export interface SchedulerOptions {
  /** In priority order, highest first; at least one. */
  readonly classes: readonly ClassSpec[];
  /** Cost units a flow may send per round (every ticket costs 1). */
  readonly quantum: number;
  /** Weights of flows other than 1. */
  readonly weights: ReadonlyMap<string, number>;
  /** Most flows per class with tickets waiting. */
  readonly maxFlows: number;
}

export class Flow {
  deficit = 0;
  head: Ticket | undefined = undefined;
  tail: Ticket | undefined = undefined;
  size = 0;
  /** Links in the class's round. */
  prev: Flow | undefined = undefined;
  next: Flow | undefined = undefined;
  constructor(
    readonly key: string,
    readonly weight: number,
  ) {}
}

class ClassQueue {
  readonly flows = new Map<string, Flow>();
  /** The round: head is served next. */
  roundHead: Flow | undefined = undefined;
  roundTail: Flow | undefined = undefined;
  /** Arrival order, oldest first. */
  oldest: Ticket | undefined = undefined;
  newest: Ticket | undefined = undefined;
  size = 0;
  /** Tickets that may be shed (not durable). */
  sheddable = 0;
  credit = 0;
  constructor(readonly share: number) {}
}

export class Scheduler {
  readonly #classes: ClassQueue[];
  readonly #quantum: number;
  readonly #weights: ReadonlyMap<string, number>;
  readonly #maxFlows: number;
  #size = 0;
  #durable = 0;

  constructor(options: SchedulerOptions) {
    if (options.classes.length === 0) throw new Error('a scheduler needs at least one class');
    this.#classes = options.classes.map((c) => new ClassQueue(Math.max(0, c.sharePercent) / 100));
    this.#quantum = Math.max(1, options.quantum);
    this.#weights = options.weights;
    this.#maxFlows = Math.max(1, options.maxFlows);
  }

  /** Tickets waiting. */
  get size(): number {
    return this.#size;
  }

  /** Waiting tickets that count against maxQueued (not durable jobs). */
  get bounded(): number {
    return this.#size - this.#durable;
  }

  get classCount(): number {
    return this.#classes.length;
  }

  /** Tickets waiting in class `cls`. */
  classSize(cls: number): number {
    return this.#classes[cls]?.size ?? 0;
  }

  /** Flows with tickets waiting in class `cls`. */
  flowCount(cls: number): number {
    return this.#classes[cls]?.flows.size ?? 0;
  }

  /** The ticket that has waited longest (for the oldest-age metric). */
  oldest(): Ticket | undefined {
    let best: Ticket | undefined;
    for (const c of this.#classes) if (c.oldest && (!best || c.oldest.enqueuedAt < best.enqueuedAt)) best = c.oldest;
    return best;
  }

  /** Adds a waiting ticket at the back of its flow. */
  push(t: Ticket): void {
    const c = this.#class(t.cls);
    let flow = c.flows.get(t.flow);
    if (!flow) {
      const key = c.flows.size >= this.#maxFlows ? OVERFLOW_FLOW : t.flow;
      flow = c.flows.get(key);
      if (!flow) {
        flow = new Flow(key, this.#weights.get(key) ?? 1);
        c.flows.set(key, flow);
        this.#joinRound(c, flow);
      }
    }
    // Filed under its own flow, or the overflow flow.
    t.flow$ = flow;
    t.flowPrev = flow.tail;
    t.flowNext = undefined;
    if (flow.tail) flow.tail.flowNext = t;
    else flow.head = t;
    flow.tail = t;
    flow.size++;
    t.classPrev = c.newest;
    t.classNext = undefined;
    if (c.newest) c.newest.classNext = t;
    else c.oldest = t;
    c.newest = t;
    c.size++;
    if (!t.durable) c.sheddable++;
    this.#size++;
    if (t.durable) this.#durable++;
  }

  /** Removes a waiting ticket (client gone, deadline, shed); false when it was not waiting here. */
  remove(t: Ticket): boolean {
    const flow = t.flow$;
    if (!flow) return false;
    const c = this.#class(t.cls);
    t.flow$ = undefined;
    if (t.flowPrev) t.flowPrev.flowNext = t.flowNext;
    else flow.head = t.flowNext;
    if (t.flowNext) t.flowNext.flowPrev = t.flowPrev;
    else flow.tail = t.flowPrev;
    t.flowPrev = t.flowNext = undefined;
    flow.size--;
    if (t.classPrev) t.classPrev.classNext = t.classNext;
    else c.oldest = t.classNext;
    if (t.classNext) t.classNext.classPrev = t.classPrev;
    else c.newest = t.classPrev;
    t.classPrev = t.classNext = undefined;
    c.size--;
    if (!t.durable) c.sheddable--;
    this.#size--;
    if (t.durable) this.#durable--;
    if (flow.size === 0) this.#leaveRound(c, flow);
    if (c.size === 0) c.credit = 0;
    return true;
  }

  /** The next ticket to admit, removed from the queue; undefined when none waits. */
  pop(): Ticket | undefined {
    if (this.#size === 0) return undefined;
    const c = this.#pickClass();
    const t = this.#pickInClass(c);
    this.remove(t);
    return t;
  }

  /**
   * The ticket to shed so that `newcomer` fits a full queue: the newest sheddable ticket of the
   * lowest class strictly below the newcomer's; undefined when there is none.
   */
  victimFor(newcomer: Ticket): Ticket | undefined {
    for (let i = this.#classes.length - 1; i > newcomer.cls; i--) {
      const c = this.#classes[i];
      if (!c || c.sheddable === 0) continue;
      for (let t = c.newest; t; t = t.classPrev) if (!t.durable) return t;
    }
    return undefined;
  }

  /** The waiting tickets of class `cls` that may be shed (not durable), oldest first. */
  sheddableIn(cls: number): Ticket[] {
    const out: Ticket[] = [];
    const c = this.#classes[cls];
    if (!c || c.sheddable === 0) return out;
    for (let t = c.oldest; t; t = t.classNext) if (!t.durable) out.push(t);
    return out;
  }

  /**
   * Waiting tickets that cannot be admitted before their deadline at `ratePerMs` admissions per
   * ms, lowest class first: a ticket of class k waits at least for every ticket of the classes
   * above it (a lower bound: classes with a share are never counted hopeless). `now` is the clock
   * reading the deadlines compare with.
   */
  hopeless(now: number, ratePerMs: number): Ticket[] {
    const out: Ticket[] = [];
    if (!(ratePerMs > 0)) return out;
    let ahead = 0;
    const aheadOf: number[] = [];
    for (const c of this.#classes) {
      aheadOf.push(ahead);
      ahead += c.size;
    }
    for (let i = this.#classes.length - 1; i > 0; i--) {
      const c = this.#classes[i];
      if (!c || c.share > 0 || c.sheddable === 0) continue;
      const wait = (aheadOf[i] ?? 0) / ratePerMs;
      for (let t = c.newest; t; t = t.classPrev) if (!t.durable && t.deadline - now < wait) out.push(t);
    }
    return out;
  }

  #class(i: number): ClassQueue {
    const c = this.#classes[i];
    if (!c) throw new Error(`no priority class ${i}`);
    return c;
  }

  #pickClass(): ClassQueue {
    let top: ClassQueue | undefined;
    let owed: ClassQueue | undefined;
    for (const c of this.#classes) {
      if (c.size === 0) continue;
      top ??= c;
      if (c.share > 0) {
        c.credit += c.share;
        if (c.credit >= 1 && (!owed || c.credit > owed.credit)) owed = c;
      }
    }
    const chosen = owed ?? top;
    if (!chosen) throw new Error('pickClass on an empty scheduler');
    // Serving a class pays its debt, whatever the reason it was served for.
    if (chosen.share > 0) chosen.credit = Math.max(0, chosen.credit - 1);
    return chosen;
  }

  #pickInClass(c: ClassQueue): Ticket {
    for (;;) {
      const flow = c.roundHead;
      if (!flow || !flow.head) throw new Error('a class with tickets has an empty round');
      if (flow.deficit >= 1) {
        flow.deficit -= 1;
        return flow.head;
      }
      flow.deficit += this.#quantum * flow.weight;
      // To the back of the round (a flow alone in the round is served on the next turn of the loop).
      if (flow !== c.roundTail) {
        this.#unlink(c, flow);
        this.#append(c, flow);
      }
    }
  }

  #joinRound(c: ClassQueue, flow: Flow): void {
    flow.deficit = 0;
    this.#append(c, flow);
  }

  #leaveRound(c: ClassQueue, flow: Flow): void {
    this.#unlink(c, flow);
    c.flows.delete(flow.key);
    flow.deficit = 0;
  }

  #append(c: ClassQueue, flow: Flow): void {
    flow.prev = c.roundTail;
    flow.next = undefined;
    if (c.roundTail) c.roundTail.next = flow;
    else c.roundHead = flow;
    c.roundTail = flow;
  }

  #unlink(c: ClassQueue, flow: Flow): void {
    if (flow.prev) flow.prev.next = flow.next;
    else c.roundHead = flow.next;
    if (flow.next) flow.next.prev = flow.prev;
    else c.roundTail = flow.prev;
    flow.prev = flow.next = undefined;
  }
}
