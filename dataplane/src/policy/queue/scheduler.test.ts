import { describe, expect, it } from 'vitest';
import { OVERFLOW_FLOW, Scheduler, type SchedulerOptions } from './scheduler.js';
import { Ticket, type TicketOwner } from './ticket.js';

const owner: TicketOwner = { admitted: () => {}, rejected: () => {} };

function scheduler(o: Partial<SchedulerOptions> = {}): Scheduler {
  return new Scheduler({ classes: [{ sharePercent: 0 }], quantum: 1, weights: new Map(), maxFlows: 10_000, ...o });
}

function ticket(cls: number, flow: string, deadline = Infinity, durable = false): Ticket {
  return new Ticket(cls, flow, deadline, owner, durable);
}

/** Pops n tickets (or until empty) and counts them by key. */
function popCounts(s: Scheduler, n: number, key: (t: Ticket) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const t = s.pop();
    if (!t) break;
    out.set(key(t), (out.get(key(t)) ?? 0) + 1);
  }
  return out;
}

/** Jain's fairness index: 1 when every x is equal, 1/n when one takes everything. */
function jain(xs: readonly number[]): number {
  const sum = xs.reduce((a, b) => a + b, 0);
  const squares = xs.reduce((a, b) => a + b * b, 0);
  return (sum * sum) / (xs.length * squares);
}

describe('Scheduler', () => {
  it('serves classes in strict priority, first-in first-out inside a flow', () => {
    const s = scheduler({ classes: [{ sharePercent: 0 }, { sharePercent: 0 }, { sharePercent: 0 }] });
    const order: Ticket[] = [];
    for (let i = 0; i < 4; i++) for (const cls of [2, 1, 0]) order.push(ticket(cls, 't'));
    for (const t of order) s.push(t);
    const popped = Array.from({ length: 12 }, () => s.pop());
    expect(popped.map((t) => t?.cls)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    // Inside class 0, arrival order.
    expect(popped.slice(0, 4)).toEqual(order.filter((t) => t.cls === 0));
    expect(s.pop()).toBeUndefined();
    expect(s.size).toBe(0);
  });

  it('shares a class fairly between backlogged tenants: Jain index ≥ 0.98 with equal weights', () => {
    const s = scheduler();
    // One heavy tenant arrives first with 2,000 requests, nine others after it with 200 each:
    // first-in first-out would serve only the heavy tenant for the first 2,000 dispatches.
    for (let i = 0; i < 2000; i++) s.push(ticket(0, 'heavy'));
    for (let t = 0; t < 9; t++) for (let i = 0; i < 200; i++) s.push(ticket(0, `tenant-${t}`));
    const counts = popCounts(s, 1000, (t) => t.flow);
    expect(counts.size).toBe(10);
    const index = jain([...counts.values()]);
    expect(index).toBeGreaterThanOrEqual(0.98);
    expect(counts.get('heavy')).toBe(100);
  });

  it('gives weighted tenants shares within 5 % of their weights', () => {
    const weights = new Map([
      ['w2', 2],
      ['w3', 3],
      ['w4', 4],
    ]);
    const s = scheduler({ weights, quantum: 3 });
    for (const flow of ['w1', 'w2', 'w3', 'w4']) for (let i = 0; i < 5000; i++) s.push(ticket(0, flow));
    const n = 6000;
    const counts = popCounts(s, n, (t) => t.flow);
    for (const [flow, w] of [
      ['w1', 1],
      ['w2', 2],
      ['w3', 3],
      ['w4', 4],
    ] as const) {
      const share = (counts.get(flow) ?? 0) / n;
      const expected = w / 10;
      expect(Math.abs(share - expected) / expected, `${flow}: share ${share}, weight share ${expected}`).toBeLessThanOrEqual(0.05);
    }
  });

  it('a class with a share gets that share of dispatches while higher classes wait; without one it starves', () => {
    for (const share of [0, 10, 25]) {
      const s = scheduler({ classes: [{ sharePercent: 0 }, { sharePercent: 0 }, { sharePercent: share }] });
      for (let i = 0; i < 3000; i++) for (const cls of [0, 1, 2]) s.push(ticket(cls, 'x'));
      const counts = popCounts(s, 2000, (t) => String(t.cls));
      const low = (counts.get('2') ?? 0) / 2000;
      if (share === 0) expect(low).toBe(0);
      else expect(Math.abs(low - share / 100) / (share / 100)).toBeLessThanOrEqual(0.05);
      // The rest still goes by strict priority: class 1 gets nothing while class 0 waits.
      expect(counts.get('1') ?? 0).toBe(0);
    }
  });

  it('banks no share credit while a class waits for nothing', () => {
    const s = scheduler({ classes: [{ sharePercent: 0 }, { sharePercent: 50 }] });
    for (let i = 0; i < 100; i++) s.push(ticket(0, 'x'));
    expect(popCounts(s, 50, (t) => String(t.cls)).get('0')).toBe(50);
    // Class 1 arrives now: it gets its half from here on, not a burst for the time it was idle.
    for (let i = 0; i < 100; i++) s.push(ticket(1, 'x'));
    const next = Array.from({ length: 10 }, () => s.pop()?.cls);
    expect(next.filter((c) => c === 1).length).toBe(5);
  });

  it('removes a cancelled ticket from the middle without disturbing the order of the others', () => {
    const s = scheduler();
    const ts = Array.from({ length: 5 }, () => ticket(0, 'a'));
    for (const t of ts) s.push(t);
    expect(s.remove(ts[2] as Ticket)).toBe(true);
    expect(s.remove(ts[2] as Ticket)).toBe(false);
    expect(Array.from({ length: 4 }, () => s.pop())).toEqual([ts[0], ts[1], ts[3], ts[4]]);
  });

  it('drops a flow when its last ticket leaves, and files flows beyond maxFlows under one overflow flow', () => {
    const s = scheduler({ maxFlows: 2 });
    const a = ticket(0, 'a');
    s.push(a);
    s.push(ticket(0, 'b'));
    s.push(ticket(0, 'c'));
    s.push(ticket(0, 'd'));
    expect(s.flowCount(0)).toBe(3); // a, b and the overflow flow holding c and d
    s.remove(a);
    expect(s.flowCount(0)).toBe(2);
    expect(a.flow$).toBeUndefined();
    // c and d share one turn of the round: b, c, b?, … — here b once, then the overflow twice.
    const order = Array.from({ length: 3 }, () => s.pop()?.flow);
    expect(order).toEqual(['b', 'c', 'd']);
    expect(OVERFLOW_FLOW).not.toBe('');
  });

  it('sheds the newest ticket of the lowest class below the newcomer, never its own class or above', () => {
    const s = scheduler({ classes: [{ sharePercent: 0 }, { sharePercent: 0 }, { sharePercent: 0 }] });
    const std1 = ticket(1, 'x');
    const std2 = ticket(1, 'y');
    const batch1 = ticket(2, 'x');
    const batch2 = ticket(2, 'y');
    const job = ticket(2, 'z', Infinity, true);
    for (const t of [std1, batch1, std2, batch2, job]) s.push(t);
    // The job is durable: never shed; the newest batch request that is not a job goes first.
    expect(s.victimFor(ticket(0, 'v'))).toBe(batch2);
    s.remove(batch2);
    expect(s.victimFor(ticket(0, 'v'))).toBe(batch1);
    s.remove(batch1);
    expect(s.victimFor(ticket(0, 'v'))).toBe(std2);
    // A standard newcomer may only push out batch, and there is none left but the job.
    expect(s.victimFor(ticket(1, 'v'))).toBeUndefined();
    expect(s.victimFor(ticket(2, 'v'))).toBeUndefined();
    expect(s.bounded).toBe(2);
    expect(s.size).toBe(3);
  });

  it('finds the tickets that cannot be served before their deadline, lowest class first', () => {
    const s = scheduler({ classes: [{ sharePercent: 0 }, { sharePercent: 0 }, { sharePercent: 0 }] });
    for (let i = 0; i < 10; i++) s.push(ticket(0, 'vip', 1_000));
    const soonStd = ticket(1, 's', 50);
    const lateStd = ticket(1, 's', 500);
    const soonBatch = ticket(2, 'b', 80);
    s.push(soonStd);
    s.push(lateStd);
    s.push(soonBatch);
    // 0.1 admissions per ms: the standard class waits ≥ 100 ms behind 10 VIP tickets, batch ≥ 120 ms.
    expect(s.hopeless(0, 0.1)).toEqual([soonBatch, soonStd]);
    expect(s.hopeless(0, 1)).toEqual([]);
  });
});
