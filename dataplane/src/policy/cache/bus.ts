/**
 * Cross-instance invalidation: a gateway that invalidates publishes what it invalidated on one
 * Redis channel; every gateway (itself included, which ignores its own messages) drops the same
 * L1 copies. Messages come from outside the process: they are parsed and bounded here, and a
 * message that is not exactly what `encodeInvalidation` writes is ignored.
 *
 * Pub/sub delivers only to connected subscribers: a gateway whose subscription was interrupted
 * may have missed invalidations, so it drops its whole L1 when the subscription is back
 * (`onResubscribed`) — the price is a few misses, never a stale hit.
 */
import type { Redis } from 'ioredis';

/** The channel every gateway of a Redis listens on (the key prefix keeps deployments apart). */
export function invalidationChannel(prefix: string): string {
  return `${prefix}invalidate`;
}

/** Most tags or keys one invalidation names (admin requests are bounded the same way). */
export const MAX_NAMES = 1000;
/** Longest message accepted. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

export interface Invalidation {
  /** `<ns>/<name>` of the CachePolicy. */
  readonly policy: string;
  readonly tags: readonly string[];
  readonly keys: readonly string[];
  /** The whole policy (its version). */
  readonly all: boolean;
}

export interface InvalidationMessage extends Invalidation {
  /** The node id of the gateway that sent it. */
  readonly from: string;
}

export function encodeInvalidation(from: string, inv: Invalidation): string {
  return JSON.stringify({ v: 1, from, policy: inv.policy, tags: inv.tags, keys: inv.keys, all: inv.all });
}

const boundedStrings = (v: unknown): v is string[] =>
  Array.isArray(v) && v.length <= MAX_NAMES && v.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 256);

/** The message, or undefined when it is not one of ours. */
export function decodeInvalidation(text: string): InvalidationMessage | undefined {
  if (text.length > MAX_MESSAGE_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  const { from, policy, tags, keys, all } = m;
  if (m['v'] !== 1 || typeof from !== 'string' || typeof policy !== 'string' || policy.length > 512) return undefined;
  if (!boundedStrings(tags) || !boundedStrings(keys) || typeof all !== 'boolean') return undefined;
  return { from, policy, tags, keys, all };
}

export interface Subscription {
  close(): void;
}

/**
 * Subscribes a dedicated connection (a duplicate of `redis`) to the channel. `onMessage` gets each
 * valid message from another gateway; `onResubscribed` runs when the subscription is back after
 * an interruption (not the first time).
 */
export function subscribeInvalidations(
  redis: Redis,
  channel: string,
  self: string,
  handlers: { onMessage(m: InvalidationMessage): void; onResubscribed(): void; onError(err: Error): void },
): Subscription {
  const sub = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: true, lazyConnect: false });
  let subscribedOnce = false;
  let interrupted = false;
  sub.on('error', (err: Error) => handlers.onError(err));
  sub.on('close', () => {
    if (subscribedOnce) interrupted = true;
  });
  sub.on('ready', () => {
    sub.subscribe(channel).then(
      () => {
        if (interrupted) {
          interrupted = false;
          handlers.onResubscribed();
        }
        subscribedOnce = true;
      },
      (err: unknown) => handlers.onError(err instanceof Error ? err : new Error(String(err))),
    );
  });
  sub.on('message', (ch: string, text: string) => {
    if (ch !== channel) return;
    const m = decodeInvalidation(text);
    if (m && m.from !== self) handlers.onMessage(m);
  });
  return { close: () => sub.disconnect() };
}
