import { setTimeout as delay } from 'node:timers/promises';

/**
 * The only place the harness reads the wall clock: polling budgets and measured durations.
 * Keeping it here makes it easy to see (and to fake) every time-dependent decision.
 */
export const clock = { now: (): number => Date.now() };

export function sleep(ms: number): Promise<void> {
  return delay(ms).then(() => undefined);
}

/** Milliseconds elapsed since `start` (a value from `clock.now()`). */
export function since(start: number): number {
  return clock.now() - start;
}
