/**
 * Reads a request body into memory before anything is sent upstream — up to a bound, within a
 * time limit, and within the gateway-wide budget of buffered bytes — so that a client trickling
 * its body never holds an upstream connection, and a route whose policies look inside bodies can
 * parse it. A body over the bound is refused (413) or, where the caller allows it, the part read
 * so far is handed back to be streamed on with the rest.
 */
import type { IncomingMessage } from 'node:http';
import type { TimerHandle, Timers } from '../clock.js';
import type { BodyBudget } from './budget.js';

export type BodyRead =
  | { readonly ok: true; readonly body: Buffer; readonly reserved: number }
  /** Over `limit` with `overflow: 'stream'`: the chunks read so far; the request is paused with the rest. */
  | { readonly ok: 'partial'; readonly prefix: readonly Buffer[]; readonly reserved: number }
  | { readonly ok: false; readonly reason: 'too-large' | 'aborted' | 'timeout' | 'busy'; readonly reserved: 0 };

export interface ReadOptions {
  /** Most bytes kept. */
  readonly limit: number;
  /** Past the limit: refuse (`too-large`) or hand the part read back (`partial`). */
  readonly overflow: 'refuse' | 'stream';
  /** The whole body must arrive within this (ms). */
  readonly timeoutMs: number;
  readonly timers: Timers;
  readonly budget: BodyBudget;
}

export function readBody(req: IncomingMessage, o: ReadOptions): Promise<BodyRead> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > o.limit && o.overflow === 'refuse') {
    req.resume();
    return Promise.resolve({ ok: false, reason: 'too-large', reserved: 0 });
  }
  return new Promise<BodyRead>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let reserved = 0;
    let settled = false;
    const timer: { handle?: TimerHandle } = {};
    const settle = (r: BodyRead): void => {
      if (settled) return;
      settled = true;
      timer.handle?.cancel();
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      if (r.ok === false) o.budget.release(reserved);
      resolve(r);
    };
    const fail = (reason: 'too-large' | 'aborted' | 'timeout' | 'busy'): void => settle({ ok: false, reason, reserved: 0 });
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > o.limit) {
        if (o.overflow === 'stream') {
          // Keep this chunk too and stop here: the caller streams the rest.
          req.pause();
          if (o.budget.tryReserve(chunk.length)) reserved += chunk.length;
          chunks.push(chunk);
          return settle({ ok: 'partial', prefix: chunks, reserved });
        }
        req.resume(); // drain and drop the rest
        return fail('too-large');
      }
      if (!o.budget.tryReserve(chunk.length)) {
        req.resume();
        return fail('busy');
      }
      reserved += chunk.length;
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = (): void =>
      settle({ ok: true, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size), reserved });
    const onAbort = (): void => fail('aborted');
    const onClose = (): void => {
      if (!req.complete) onAbort();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
    timer.handle = o.timers.after(o.timeoutMs, () => {
      req.resume();
      fail('timeout');
    });
  });
}
