/**
 * CPU time of a process, read from Linux's /proc: user + system time of all its threads (exited
 * threads included), in µs. The clock tick (CLK_TCK, 100 Hz nearly everywhere) bounds the
 * resolution to 10 ms per reading — a fraction of a percent of a 2 s slice at saturation. CPU time
 * per request is far steadier than requests/s on a shared machine: it does not depend on how much
 * of the machine the process got, only on what it did per request.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of `/proc/<pid>/stat`, in µs; undefined when it cannot be read (not Linux, gone). */
export async function processCpuMicros(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields count from after it.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]); // field 14
  const stime = Number(rest[12]); // field 15
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1e6) / clockTicks();
}

/** Pins this process, its threads and every child started from now on to CPUs 0..n-1 (taskset). */
export function pinToCpus(n: number): void {
  const list = n === 1 ? '0' : `0-${n - 1}`;
  execFileSync('taskset', ['-a', '-p', '-c', list, String(process.pid)], { stdio: 'ignore' });
}
