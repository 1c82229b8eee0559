/**
 * CPU time of a process, read from Linux's /proc, in µs: the time every thread of it ran, from the
 * scheduler's own nanosecond counters (`/proc/<pid>/task/<tid>/schedstat`), or where those cannot
 * be compared (one could not be read, a thread ended in between), user + system time from
 * `/proc/<pid>/stat`, which counts in clock ticks (10 ms nearly
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
 * One reading of a process's CPU time, from both of /proc's counters, so that two readings can
 * always be compared with one and the same counter (cpuBetween).
 */
export interface CpuReading {
  /** Each thread's run time in µs by thread id (schedstat); undefined when any could not be read. */
  readonly threads: ReadonlyMap<number, number> | undefined;
  /** utime + stime of the whole process in µs (clock ticks; ended threads included); undefined when unreadable. */
  readonly total: number | undefined;
}

/** The run time of every thread of `pid` in µs, by thread id; undefined when any cannot be read (a thread that ended between listing and reading, a kernel without schedstat). */
async function threadRuns(pid: number): Promise<Map<number, number> | undefined> {
  try {
    const tids = await readdir(`/proc/${pid}/task`);
    const texts = await Promise.all(tids.map((tid) => readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')));
    const runs = new Map<number, number>();
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i] as string;
      const run = Number(text.slice(0, text.indexOf(' ')));
      const tid = Number(tids[i]);
      if (!Number.isSafeInteger(run) || run < 0 || !Number.isSafeInteger(tid)) return undefined;
      runs.set(tid, run / 1000);
    }
    return runs;
  } catch {
    return undefined;
  }
}

/** A reading of `pid`'s CPU time; undefined when neither counter can be read (not Linux, gone). */
export async function readCpu(pid: number): Promise<CpuReading | undefined> {
  const [threads, total] = await Promise.all([threadRuns(pid), statCpuMicros(pid)]);
  if (threads === undefined && total === undefined) return undefined;
  return { threads, total };
}

function sum(runs: ReadonlyMap<number, number>): number {
  let us = 0;
  for (const run of runs.values()) us += run;
  return us;
}

/**
 * The CPU time `pid` spent between two readings, in µs: from the threads' schedstat counters
 * (nanoseconds) when both readings have them and every thread of the first is still there in
 * the second (a thread that started in between counts whole: it ran only in between); else from
 * utime + stime (a thread that ended in between took its schedstat counter with it, but not its
 * ticks); undefined when neither counter was read at both ends. Never one counter at one end and
 * the other at the other. (A thread that both started and ended in between is in neither reading
 * of schedstat; a Node process's threads — V8's workers, libuv's pool — live as long as it does.)
 */
export function cpuBetween(a: CpuReading, b: CpuReading): number | undefined {
  const before = a.threads;
  const after = b.threads;
  if (before !== undefined && after !== undefined) {
    let whole = true;
    for (const [tid, run] of before) {
      const later = after.get(tid);
      if (later === undefined || later < run) {
        whole = false;
        break;
      }
    }
    if (whole) return sum(after) - sum(before);
  }
  if (a.total !== undefined && b.total !== undefined) return b.total - a.total;
  return undefined;
}

/** utime + stime of `/proc/<pid>/stat`, in µs (clock-tick resolution); undefined when it cannot be read. */
async function statCpuMicros(pid: number): Promise<number | undefined> {
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
  cpu: CpuReading;
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
    private readonly read: (pid: number) => Promise<CpuReading | undefined> = readCpu,
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
    const us = cpuBetween(start.cpu, end.cpu);
    if (us === undefined) return;
    this.#result = {
      pid: this.pid,
      us: Math.round(us),
      requests: Math.round(end.ended - start.ended),
      window_s: Math.round(end.ns - start.ns) / 1e9,
    };
  }

  /** The window's figures; null when it was never opened and closed, or its readings cannot be compared (cpuBetween). */
  result(): CpuWindowResult | null {
    return this.#result;
  }

  async #reading(): Promise<Reading | undefined> {
    const ended0 = this.#ended;
    const ns0 = this.nowNs();
    const cpu = await this.read(this.pid);
    if (cpu === undefined) return undefined;
    return { cpu, ended: (ended0 + this.#ended) / 2, ns: (ns0 + this.nowNs()) / 2 };
  }
}
