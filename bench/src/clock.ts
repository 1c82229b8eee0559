/**
 * The only place the load tools read time: the monotonic high-resolution clock (process.hrtime),
 * and a precise ticker for open-loop schedules.
 */
import { Worker } from 'node:worker_threads';

/**
 * Nanoseconds on the monotonic clock, as a double (exact to a few ns even after months of uptime).
 * The same clock in every thread of the process.
 */
export function monotonicNs(): number {
  return Number(process.hrtime.bigint());
}

/**
 * A worker thread that sleeps (Atomics.wait, sub-millisecond precision, no CPU while waiting)
 * until `leadNs` before each slot `start + i * interval` of a schedule and posts `i` to the main
 * thread (the message takes about 0.1 ms to wake it; the receiver polls the last stretch); slots
 * that passed while it was late are skipped (the receiver sends everything that is due).
 * node's own timers have a 1 ms granularity, and polling the event loop instead would take a
 * whole core from the target on a small machine.
 */
const TICKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { start, interval, total, lead } = workerData;
const cell = new Int32Array(new SharedArrayBuffer(4));
let i = 0;
while (i < total) {
  const waitMs = (start + i * interval - lead - Number(process.hrtime.bigint())) / 1e6;
  if (waitMs > 0) Atomics.wait(cell, 0, 0, waitMs);
  parentPort.postMessage(i);
  i = Math.max(i + 1, Math.floor((Number(process.hrtime.bigint()) + lead - start) / interval) + 1);
}
parentPort.postMessage(-1);
`;

export interface Ticker {
  stop(): Promise<void>;
}

/** Calls `onTick` at each slot of the schedule (in the main thread), then `onDone`. */
export function startTicker(
  schedule: { startNs: number; intervalNs: number; total: number; leadNs: number },
  onTick: () => void,
  onDone: () => void,
): Ticker {
  const worker = new Worker(TICKER_SOURCE, {
    eval: true,
    workerData: { start: schedule.startNs, interval: schedule.intervalNs, total: schedule.total, lead: schedule.leadNs },
  });
  worker.on('message', (i: number) => {
    if (i < 0) onDone();
    else onTick();
  });
  return {
    async stop() {
      await worker.terminate();
    },
  };
}

export { systemClock, systemTimers } from '@jarvis/api';
