import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { Gate, type GateOptions } from './gate.js';
import { Ticket, type RejectReason, type ShedCause, type TicketOwner } from './ticket.js';

/** Records what the gate told each ticket's owner. */
class Recorder implements TicketOwner {
  readonly events: string[] = [];
  readonly admittedTickets: Ticket[] = [];
  readonly reasons = new Map<Ticket, RejectReason>();
  constructor(private readonly names: Map<Ticket, string>) {}
  admitted(t: Ticket): void {
    this.admittedTickets.push(t);
    this.events.push(`admit ${this.names.get(t)}`);
  }
  rejected(t: Ticket, reason: RejectReason, cause?: ShedCause): void {
    this.reasons.set(t, reason);
    this.events.push(`${reason} ${this.names.get(t)}${cause ? ` (${cause.trigger})` : ''}`);
  }
}

function setup(o: Partial<GateOptions> = {}) {
  const time = new ManualTime(0);
  const gate = new Gate(
    {
      classes: [{ sharePercent: 0 }, { sharePercent: 0 }, { sharePercent: 0 }],
      quantum: 1,
      weights: new Map(),
      maxFlows: 100,
      maxInFlight: 2,
      maxQueued: 10,
      ...o,
    },
    time,
    time,
    () => 0.5,
  );
  const names = new Map<Ticket, string>();
  const rec = new Recorder(names);
  const make = (name: string, cls = 1, deadlineIn = 1_000, durable = false): Ticket => {
    const t = new Ticket(cls, name.split('-')[0] ?? name, time.now() + deadlineIn, rec, durable);
    names.set(t, name);
    return t;
  };
  return { time, gate, rec, make };
}

describe('Gate', () => {
  it('admits up to the limit, queues the rest, and hands each released slot to the next in order', () => {
    const { gate, rec, make } = setup();
    const a = make('a');
    const b = make('b');
    expect(gate.acquire(a)).toBe('admitted');
    expect(gate.acquire(b)).toBe('admitted');
    const lo = make('lo', 2);
    const hi = make('hi', 0);
    expect(gate.acquire(lo)).toBe('queued');
    expect(gate.acquire(hi)).toBe('queued');
    expect(gate.inFlight).toBe(2);
    expect(gate.waiting).toBe(2);
    gate.release(a, 10);
    expect(rec.events).toEqual(['admit hi']);
    gate.release(b, 10);
    expect(rec.events).toEqual(['admit hi', 'admit lo']);
    expect(gate.inFlight).toBe(2);
    gate.release(a, 10); // released twice: ignored
    expect(gate.inFlight).toBe(2);
  });

  it('refuses a waiting ticket at its deadline, never before, with one timer for all of them', () => {
    const { time, gate, rec, make } = setup();
    gate.acquire(make('a'));
    gate.acquire(make('b'));
    const tickets = [300, 100, 200].map((d) => make(`w${d}`, 1, d));
    for (const t of tickets) expect(gate.acquire(t)).toBe('queued');
    expect(time.pending()).toBe(1);
    time.advance(99);
    expect(rec.events).toEqual([]);
    time.advance(1);
    expect(rec.events).toEqual(['expired w100']);
    time.advance(100);
    expect(rec.events).toEqual(['expired w100', 'expired w200']);
    expect(gate.waiting).toBe(1);
    expect(time.pending()).toBe(1);
    expect(gate.counters.expired).toBe(2);
  });

  it('a cancelled ticket leaves the queue at once: never admitted, its deadline never fires, the next one gets the slot', () => {
    const { time, gate, rec, make } = setup();
    const a = make('a');
    gate.acquire(a);
    gate.acquire(make('b'));
    const gone = make('gone', 0);
    const next = make('next', 1);
    gate.acquire(gone);
    gate.acquire(next);
    expect(gate.cancel(gone)).toBe(true);
    expect(gate.cancel(gone)).toBe(false);
    gate.release(a, 5);
    time.advance(5_000);
    expect(rec.events).toEqual(['admit next']);
    expect(gate.counters.cancelled).toBe(1);
  });

  it('when full, sheds the lowest class first; a newcomer of the lowest class is refused', () => {
    const { gate, rec, make } = setup({ maxQueued: 3 });
    gate.acquire(make('a'));
    gate.acquire(make('b'));
    for (const n of ['std1', 'batch1', 'batch2']) gate.acquire(make(n, n.startsWith('std') ? 1 : 2));
    expect(gate.acquire(make('vip1', 0))).toBe('queued');
    expect(rec.events).toEqual(['shed batch2']);
    expect(gate.acquire(make('std2', 1))).toBe('queued');
    expect(rec.events).toEqual(['shed batch2', 'shed batch1']);
    expect(gate.acquire(make('batch3', 2))).toBe('rejected');
    expect(gate.acquire(make('std3', 1))).toBe('rejected');
    expect(gate.acquire(make('vip2', 0))).toBe('queued');
    expect(rec.events).toEqual(['shed batch2', 'shed batch1', 'shed std2']);
    expect(gate.counters).toMatchObject({ shed: 3, rejected: 2 });
  });

  it('maxQueued 0 refuses at once when the limit is reached', () => {
    const { gate, make } = setup({ maxQueued: 0 });
    gate.acquire(make('a'));
    gate.acquire(make('b'));
    expect(gate.acquire(make('c', 0))).toBe('rejected');
  });

  it('durable tickets (jobs) are neither shed, nor expired, nor counted against maxQueued', () => {
    const { time, gate, rec, make } = setup({ maxQueued: 1 });
    const a = make('a');
    gate.acquire(a);
    gate.acquire(make('b'));
    const job = new Ticket(2, 'job', Infinity, rec, true);
    expect(gate.acquire(job)).toBe('queued');
    expect(gate.acquire(make('std', 1))).toBe('queued');
    expect(gate.acquire(make('vip', 0))).toBe('queued'); // sheds std, not the job
    expect(rec.events).toEqual(['shed std']);
    time.advance(10_000);
    expect(rec.events).toEqual(['shed std', 'expired vip']);
    gate.release(a);
    expect(rec.admittedTickets).toEqual([job]);
  });

  it('an adaptive gate holds minLimit until minRTT is measured, grows on low latency, and sheds hopeless waiters when it shrinks', () => {
    const { time, gate, rec, make } = setup({
      maxInFlight: 8,
      maxQueued: 1000,
      adaptive: { minLimit: 2, buffer: 0.25, sampleIntervalMs: 100, minRttIntervalMs: 60_000, minRttSamples: 4 },
    });
    expect(gate.limit).toBe(2);
    const running: Ticket[] = [];
    /**
     * Ends one running call (a sample window opens), `advance` ms later the others (it closes when
     * that is a whole interval), then fills the gate with new calls (they carry the limit's new epoch).
     */
    const cycle = (rtt: number, advance = 0) => {
      const [head, ...rest] = running.splice(0);
      if (head) gate.release(head, rtt);
      time.advance(advance);
      for (const t of rest) gate.release(t, rtt);
      running.push(...rec.admittedTickets.splice(0));
      for (;;) {
        const t = make('r', 0, 60_000);
        if (gate.acquire(t) !== 'admitted') {
          gate.cancel(t);
          break;
        }
        running.push(t);
      }
    };
    cycle(0);
    expect(running.length).toBe(2);
    // Four calls of 10 ms measure minRTT; the limit stays at 2 meanwhile.
    cycle(10);
    expect(gate.limit).toBe(2);
    expect(gate.controller?.probing).toBe(true);
    cycle(10);
    expect(gate.controller?.probing).toBe(false);
    expect(gate.controller?.minRtt).toBe(10);
    // At minRTT the limit grows by the buffer plus headroom: 2 × 1.25 + √2.
    cycle(10, 100);
    expect(gate.limit).toBe(Math.floor(2 * 1.25 + Math.sqrt(2)));
    // Faster calls double it (gradient clamped at 2), up to maxInFlight.
    for (let i = 0; i < 3; i++) cycle(5, 100);
    expect(gate.limit).toBe(8);
    expect(gate.inFlight).toBe(8);
    // Waiters in three classes; then the upstream slows down to 4× minRTT.
    for (let i = 0; i < 20; i++) gate.acquire(make(`vip${i}`, 0, 10_000));
    const std = make('std', 1, 150);
    const batch = make('batch', 2, 5_000);
    gate.acquire(std);
    gate.acquire(batch);
    rec.events.length = 0;
    gate.release(running.shift() as Ticket, 40);
    time.advance(100);
    gate.release(running.shift() as Ticket, 40);
    // 0.5 × 8 + √8.
    expect(gate.limit).toBe(6);
    // 6 calls per 40 ms: the standard request (50 ms left) cannot get a slot behind 20 VIP ones in time, so it is shed now;
    // the batch one (5 s left) can, and keeps waiting.
    expect(rec.reasons.get(std)).toBe('shed');
    expect(rec.reasons.has(batch)).toBe(false);
    // (The first of the two releases gave its slot to a VIP request.)
    expect(rec.events).toEqual(['admit vip0', 'shed std']);
  });

  it('sheds the waiting tickets of a class a degradation trigger sheds, those selected only, never durable ones', () => {
    const { gate, rec, make } = setup({ maxInFlight: 1 });
    const observed: string[] = [];
    gate.observer = { refused: (t, reason) => observed.push(`${reason} ${t.cls}`) };
    const run = make('run', 1);
    expect(gate.acquire(run)).toBe('admitted');
    const b1 = make('b1', 2);
    const other = make('other-route', 2);
    const job = make('job', 2, Infinity, true);
    const s1 = make('s1', 1);
    for (const t of [b1, other, job, s1]) expect(gate.acquire(t)).toBe('queued');
    const cause = { trigger: 'slow', policy: 'ns/dp', priorityClass: 'batch', retryAfterSeconds: 5 };
    expect(gate.shedClass(2, (t) => t !== other, cause)).toBe(1);
    expect(rec.events).toEqual(['shed b1 (slow)']);
    expect(observed).toEqual(['shed 2']);
    expect(gate.counters.shed).toBe(1);
    expect(gate.waiting).toBe(3);
    // Shedding again finds nothing new; the rest are served as before.
    expect(gate.shedClass(2, (t) => t !== other, cause)).toBe(0);
    gate.release(run);
    expect(rec.events.at(-1)).toBe('admit s1');
  });

  it('counts a new ticket turned away for its shed class as shed, without telling its owner', () => {
    const { gate, rec, make } = setup();
    const refused: string[] = [];
    gate.observer = { refused: (t, reason) => refused.push(`${reason} ${t.cls}`) };
    const t = make('b', 2);
    gate.turnAway(t);
    expect(refused).toEqual(['shed 2']);
    expect(gate.counters.shed).toBe(1);
    expect(rec.events).toEqual([]);
    expect(gate.inFlight).toBe(0);
    expect(gate.waiting).toBe(0);
    expect(() => gate.acquire(t)).toThrow(/used once/);
  });
});
