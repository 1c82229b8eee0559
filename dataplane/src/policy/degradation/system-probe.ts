/**
 * The gateway process's own load for the CPU, Memory and EventLoopLag triggers: CPU time from
 * process.cpuUsage, resident memory against the cgroup's memory limit (cgroup v2 memory.max, or
 * v1 memory.limit_in_bytes) or else the host's memory, and event-loop delay from
 * perf_hooks.monitorEventLoopDelay (its 99th percentile per sampling interval).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { SystemProbe } from './triggers/index.js';

const LOOP_RESOLUTION_MS = 10;
const CGROUP_LIMITS = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'];

/** The memory limit of the process's cgroup, when it has one below the host's memory; else the host's. */
export function memoryLimitBytes(read: (path: string) => string | undefined = readText): number {
  const host = os.totalmem();
  for (const path of CGROUP_LIMITS) {
    const text = read(path)?.trim();
    if (text === undefined || text === '' || text === 'max') continue;
    const n = Number(text);
    if (Number.isFinite(n) && n > 0 && n < host) return n;
  }
  return host;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export class ProcessProbe implements SystemProbe {
  readonly memoryLimitBytes = memoryLimitBytes();
  #loop: IntervalHistogram | undefined = undefined;

  cpuMs(): number {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }

  rssBytes(): number {
    return process.memoryUsage.rss();
  }

  takeLoopLagMs(): number {
    if (!this.#loop) {
      this.#loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
      this.#loop.enable();
      return 0;
    }
    // A sample is the whole interval between two timer runs: the delay is what exceeds the resolution.
    const p99 = this.#loop.count > 0 ? Math.max(0, this.#loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS) : 0;
    this.#loop.reset();
    return p99;
  }

  close(): void {
    this.#loop?.disable();
  }
}
