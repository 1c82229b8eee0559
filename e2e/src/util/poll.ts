import { clock, sleep } from '../clock.js';

export type Probe<T> = { done: true; value: T } | { done: false; reason: string };

export interface PollOptions {
  /** What we are waiting for, for the timeout message ("etcd /health"). */
  what: string;
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Calls `probe` every `intervalMs` (measured from the start of each call) until it reports
 * done or the budget runs out. A probe that throws aborts the wait with that error (use it for
 * fatal conditions such as "the process exited").
 */
export async function pollUntil<T>(probe: () => Promise<Probe<T>>, opts: PollOptions): Promise<T> {
  const interval = opts.intervalMs ?? 100;
  const start = clock.now();
  const deadline = start + opts.timeoutMs;
  let last = 'not probed yet';
  for (;;) {
    const tick = clock.now();
    const result = await probe();
    if (result.done) return result.value;
    last = result.reason;
    const now = clock.now();
    if (now >= deadline) {
      throw new Error(`timed out after ${((now - start) / 1000).toFixed(1)}s waiting for ${opts.what} (last: ${last})`);
    }
    await sleep(Math.max(0, Math.min(tick + interval, deadline) - now));
  }
}
