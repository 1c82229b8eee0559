/**
 * A DegradationPolicy's shedPriorityClasses on one route's queue, resolved once per config: for
 * each priority class of the route's QueuePolicy, the triggers that shed it. The request path asks
 * `cause(cls)` — an array read, and a Map lookup per trigger naming the class; the waiting requests
 * of a class are shed when its triggers change (the queue stage watches the trigger registry), not
 * by polling. Names the queue has no class for shed nothing (the translator reports them).
 */
import type { DegradationIR } from '@jarvis/api';
import type { Clock } from '../../clock.js';
import type { ShedCause } from './ticket.js';

/** What shedding reads of the route's triggers (its TriggerSet). */
export interface ShedTriggers {
  isActive(name: string): boolean;
  /** While active, the earliest monotonic ms at which the trigger may deactivate. */
  earliestEnd(name: string, now: number): number | undefined;
}

export type ShedRules = NonNullable<DegradationIR['shedPriorityClasses']>;

export class ClassShedding {
  /** Per class index: the names of the triggers that shed it (sorted, unique), or undefined. */
  readonly #byClass: readonly (readonly string[] | undefined)[];
  readonly #classNames: readonly string[];
  /** The class indices some rule sheds, highest class first. */
  readonly classes: readonly number[];

  private constructor(
    byClass: readonly (readonly string[] | undefined)[],
    classNames: readonly string[],
    private readonly triggers: ShedTriggers,
    /** Monotonic ms, the clock of the triggers. */
    private readonly stopwatch: Clock,
    /** The DegradationPolicy, `namespace/name`. */
    readonly policy: string,
  ) {
    this.#byClass = byClass;
    this.#classNames = classNames;
    this.classes = byClass.flatMap((names, i) => (names ? [i] : []));
  }

  /**
   * The shedding of a queue whose classes are `classNames` (highest first); undefined when no rule
   * names one of them.
   */
  static resolve(
    rules: ShedRules,
    classNames: readonly string[],
    triggers: ShedTriggers,
    stopwatch: Clock,
    policy: string,
  ): ClassShedding | undefined {
    const byClass = classNames.map((name) => {
      const names = new Set<string>();
      for (const r of rules) if (r.classes.includes(name)) for (const t of r.triggers) names.add(t);
      return names.size > 0 ? [...names].sort() : undefined;
    });
    return byClass.some((n) => n !== undefined) ? new ClassShedding(byClass, classNames, triggers, stopwatch, policy) : undefined;
  }

  /** The active trigger (the first by name) that sheds class `cls` now; undefined when none does. */
  activeTrigger(cls: number): string | undefined {
    const names = this.#byClass[cls];
    if (names === undefined) return undefined;
    for (const n of names) if (this.triggers.isActive(n)) return n;
    return undefined;
  }

  /**
   * Why class `cls` is shed now, undefined when it is not. Its Retry-After: until the last of its
   * active triggers may deactivate at the earliest (their hold), at least 1 s.
   */
  cause(cls: number): ShedCause | undefined {
    const trigger = this.activeTrigger(cls);
    if (trigger === undefined) return undefined;
    const now = this.stopwatch.now();
    let end = now;
    for (const n of this.#byClass[cls] ?? []) {
      const e = this.triggers.earliestEnd(n, now);
      if (e !== undefined && e > end) end = e;
    }
    return {
      trigger,
      policy: this.policy,
      priorityClass: this.#classNames[cls] ?? '',
      retryAfterSeconds: Math.max(1, Math.ceil((end - now) / 1000)),
    };
  }
}
