/**
 * The worker thread that loads a `--config` folder (config/worker-loader.ts starts it): reading,
 * YAML parsing and translating a large folder take seconds, which on the request path's thread
 * would stall every request for as long. Loads run one after another; each reply carries the
 * config packed as JSON text (packed.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigLoader, type LoadResult } from './load.js';
import { packConfig, type PackedConfig } from './packed.js';

export interface LoadRequest {
  readonly id: number;
  readonly unchangedFrom?: string;
}

export type LoadReply =
  | {
      readonly id: number;
      readonly result: Exclude<LoadResult, { ok: true }> | (Omit<Extract<LoadResult, { ok: true }>, 'config'> & { packed?: PackedConfig });
    }
  | { readonly id: number; readonly crash: string };

export interface LoadWorkerData {
  readonly dir: string;
  readonly gatewayId?: string;
}

const port = parentPort;
if (port) {
  const data = workerData as LoadWorkerData;
  const loader = new ConfigLoader(data.dir, data.gatewayId);
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (req: LoadRequest) => {
    queue = queue.then(async () => {
      let reply: LoadReply;
      try {
        const r = await loader.load(req.unchangedFrom);
        if (!r.ok) reply = { id: req.id, result: r };
        else {
          const { config, ...rest } = r;
          reply = { id: req.id, result: config ? { ...rest, packed: packConfig(config) } : rest };
        }
      } catch (err) {
        reply = { id: req.id, crash: err instanceof Error ? (err.stack ?? err.message) : String(err) };
      }
      port.postMessage(reply);
    });
  });
}
