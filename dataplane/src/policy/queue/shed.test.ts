import { describe, expect, it } from 'vitest';
import { ManualTime } from '../../clock.js';
import { ClassShedding, type ShedTriggers } from './shed.js';

/** Triggers whose state the test sets: name → the earliest end while active. */
function triggers(active: Map<string, number>): ShedTriggers {
  return {
    isActive: (name) => active.has(name),
    earliestEnd: (name) => active.get(name),
  };
}

const CLASSES = ['vip', 'standard', 'batch'];

describe('ClassShedding', () => {
  it('resolves class names to the queue’s class indices; names the queue lacks shed nothing', () => {
    const time = new ManualTime(0);
    const active = new Map<string, number>();
    const rules = [
      { triggers: ['cpu', 'slow'], classes: ['batch', 'bulk'] },
      { triggers: ['errors'], classes: ['batch', 'standard'] },
    ];
    const s = ClassShedding.resolve(rules, CLASSES, triggers(active), time, 'ns/dp');
    expect(s?.classes).toEqual([1, 2]);
    expect(ClassShedding.resolve([{ triggers: ['slow'], classes: ['bulk'] }], CLASSES, triggers(active), time, 'ns/dp')).toBeUndefined();
    // A queue without classes has one unnamed class: no rule can name it.
    expect(ClassShedding.resolve(rules, [''], triggers(active), time, 'ns/dp')).toBeUndefined();
  });

  it('sheds a class while any trigger naming it is active, and no other class', () => {
    const time = new ManualTime(10_000);
    const active = new Map<string, number>();
    const s = ClassShedding.resolve(
      [
        { triggers: ['cpu', 'slow'], classes: ['batch'] },
        { triggers: ['errors'], classes: ['batch', 'standard'] },
      ],
      CLASSES,
      triggers(active),
      time,
      'ns/dp',
    )!;
    expect([0, 1, 2].map((c) => s.cause(c))).toEqual([undefined, undefined, undefined]);
    active.set('slow', 12_500);
    expect(s.cause(0)).toBeUndefined();
    expect(s.cause(1)).toBeUndefined();
    expect(s.cause(2)).toEqual({ trigger: 'slow', policy: 'ns/dp', priorityClass: 'batch', retryAfterSeconds: 3 });
    active.set('errors', 40_000);
    // The first active trigger by name; Retry-After until the last of them may end.
    expect(s.cause(1)).toEqual({ trigger: 'errors', policy: 'ns/dp', priorityClass: 'standard', retryAfterSeconds: 30 });
    expect(s.cause(2)).toEqual({ trigger: 'errors', policy: 'ns/dp', priorityClass: 'batch', retryAfterSeconds: 30 });
    active.delete('errors');
    expect(s.cause(1)).toBeUndefined();
    expect(s.activeTrigger(2)).toBe('slow');
    // A trigger whose hold is already over (it ends at the next evaluation): Retry-After at least 1 s.
    active.set('slow', 9_000);
    expect(s.cause(2)?.retryAfterSeconds).toBe(1);
    active.clear();
    expect(s.cause(2)).toBeUndefined();
  });
});
