/**
 * CPU time of a process, read from Linux's /proc, in µs: the time every thread of it ran, from the
 * scheduler's own nanosecond counters (`/proc/<pid>/task/<tid>/schedstat`), or where those cannot
 * be read, user + system time from `/proc/<pid>/stat`, which counts in clock ticks (10 ms nearly
 * everywhere): over a 2 s slice that is up to half a percent, and over the one idle second the
 * bench takes out of every slice up to 1 %. CPU time per request is far steadier than requests/s
 * on a shared machine: it does not depend on how much of the machine the process got, only on
 * what it did per request.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

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

/**
 * The time the threads of `pid` have run, in µs, summed from their schedstat counters; undefined
 * when any cannot be read (a kernel without them, a thread that ended between listing and
 * reading). A Node process's threads (V8's workers, libuv's pool) live as long as it does.
 */
async function threadsRunMicros(pid: number): Promise<number | undefined> {
  try {
    const tids = await readdir(`/proc/${pid}/task`);
    const texts = await Promise.all(tids.map((tid) => readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')));
    let ns = 0;
    for (const text of texts) {
      const run = Number(text.slice(0, text.indexOf(' ')));
      if (!Number.isSafeInteger(run) || run < 0) return undefined;
      ns += run;
    }
    return ns / 1000;
  } catch {
    return undefined;
  }
}

/** CPU time of `pid` in µs (see above); undefined when it cannot be read (not Linux, gone). */
export async function processCpuMicros(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const run = await threadsRunMicros(pid);
  if (run !== undefined) return run;
  return statCpuMicros(pid);
}

/** utime + stime of `/proc/<pid>/stat`, in µs (clock-tick resolution); undefined when it cannot be read. */
export async function statCpuMicros(pid: number): Promise<number | undefined> {
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

/** What a process spent over the measured window of a load run (`CpuWindow`). */
export interface CpuWindowResult {
  pid: number;
  /** CPU time of the process between the two readings, µs. */
  us: number;
  /** Requests that ended (answered or failed) between the two readings. */
  requests: number;
  /** Seconds between the two readings. */
  window_s: number;
}

interface Reading {
  cpuUs: number;
  /** Requests ended by the middle of the reading. */
  ended: number;
  ns: number;
}

/**
 * The CPU a process spends on a load run's measured window only, and the requests that ended in
 * that window. Read around the whole run instead, a slice also counts its warm-up, its start and
 * its end (connections opened and closed), and whatever the process does just before and after
 * the load (the bench's metrics scrapes).
 *
 * `open()` is called where the window starts and `close()` where it ends, both while the load is
 * on; requests ending while a reading is taken (it reads one small file per thread) count half,
 * the count of ended requests being taken on either side of it.
 */
export class CpuWindow {
  #ended = 0;
  #open: Reading | undefined;
  #result: CpuWindowResult | null = null;

  constructor(
    readonly pid: number,
    private readonly nowNs: () => number,
    private readonly read: (pid: number) => Promise<number | undefined> = processCpuMicros,
  ) {}

  /** One request of the run ended (answered or failed). */
  ended(): void {
    this.#ended++;
  }

  async open(): Promise<void> {
    this.#open = await this.#reading();
  }

  async close(): Promise<void> {
    const start = this.#open;
    if (start === undefined) return;
    this.#open = undefined;
    const end = await this.#reading();
    if (end === undefined) return;
    this.#result = {
      pid: this.pid,
      us: Math.round(end.cpuUs - start.cpuUs),
      requests: Math.round(end.ended - start.ended),
      window_s: Math.round(end.ns - start.ns) / 1e9,
    };
  }

  /** The window's figures; null when it was never opened and closed, or a reading failed. */
  result(): CpuWindowResult | null {
    return this.#result;
  }

  async #reading(): Promise<Reading | undefined> {
    const ended0 = this.#ended;
    const ns0 = this.nowNs();
    const cpuUs = await this.read(this.pid);
    if (cpuUs === undefined) return undefined;
    return { cpuUs, ended: (ended0 + this.#ended) / 2, ns: (ns0 + this.nowNs()) / 2 };
  }
}
