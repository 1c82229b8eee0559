/**
 * Loads the `--config` folder on a worker thread (load-worker.ts), so that reading, parsing and
 * translating a large folder never holds up the request path; only unpacking (in slices, see
 * packed.ts) and the gateway's compile run on this thread. The worker has a heap limit of its own:
 * a folder that would need more makes the load fail, not the gateway. A worker that dies is
 * started again on the next load (it then remembers no earlier versions of rejected objects).
 */
import { Worker } from 'node:worker_threads';
import type { LoadResult } from './load.js';
import type { LoadReply, LoadRequest, LoadWorkerData } from './load-worker.js';
import { unpackConfig } from './packed.js';

/** Where a FileSource gets its loads from: this worker, or a ConfigLoader on the same thread (tests). */
export interface Loader {
  load(unchangedFrom?: string): Promise<LoadResult>;
  close(): Promise<void>;
}

/** Heap of the worker thread (old generation). */
export const LOAD_WORKER_HEAP_MB = 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Pending {
  resolve(r: LoadResult): void;
  reject(e: Error): void;
}

export class WorkerLoader implements Loader {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #next = 0;

  constructor(
    private readonly dir: string,
    private readonly gatewayId: string | undefined,
    private readonly yieldTurn: () => Promise<void> = nextTurn,
  ) {}

  load(unchangedFrom?: string): Promise<LoadResult> {
    const worker = this.#ensure();
    const id = ++this.#next;
    // A load in progress keeps the process alive (the first one runs before anything listens).
    worker.ref();
    return new Promise<LoadResult>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const req: LoadRequest = { id, ...(unchangedFrom !== undefined ? { unchangedFrom } : {}) };
      worker.postMessage(req);
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll(new Error('config loader closed'));
    if (worker) await worker.terminate();
  }

  #ensure(): Worker {
    if (this.#worker) return this.#worker;
    const data: LoadWorkerData = { dir: this.dir, ...(this.gatewayId !== undefined ? { gatewayId: this.gatewayId } : {}) };
    const worker = new Worker(new URL('./load-worker.js', import.meta.url), {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: LOAD_WORKER_HEAP_MB },
    });
    worker.unref();
    worker.on('message', (reply: LoadReply) => void this.#settle(reply));
    worker.on('error', (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#failAll(new Error(`config loader failed: ${err.message}`));
    });
    worker.on('exit', (code) => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#failAll(new Error(`config loader exited (code ${code})`));
    });
    this.#worker = worker;
    return worker;
  }

  async #settle(reply: LoadReply): Promise<void> {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker?.unref();
    if ('crash' in reply) return pending.reject(new Error(`config loader failed: ${reply.crash}`));
    const r = reply.result;
    if (!r.ok) return pending.resolve(r);
    try {
      const { packed, ...rest } = r;
      pending.resolve({ ...rest, config: packed ? await unpackConfig(packed, this.yieldTurn) : undefined });
    } catch (err) {
      pending.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #failAll(err: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(err);
  }
}
