/**
 * L2: the Redis level shared by every gateway. Per policy (`<ns>/<name>`, the Redis Cluster hash
 * tag, so one script sees every key of the policy):
 *
 *     <prefix>{<policy>}:e:<key>   hash: s (sequence number), g (tags, comma-separated), m (JSON meta), b (body); PX
 *     <prefix>{<policy>}:seq       the policy's invalidation sequence (INCR)
 *     <prefix>{<policy>}:v:<tag>   the sequence number of the tag's last bump; PX
 *     <prefix>{<policy>}:l:<key>   the coalescing lock (SET NX PX)
 *
 * Versions work as in versions.ts: a lookup reads the sequence with the entry, in one script;
 * an entry is stored with the sequence its lookup read; it is valid while none of its tags (nor
 * `#all`, nor its key's tag) has a version above that. Bumping a tag is one INCR and one SET
 * however many entries carry it — no KEYS or SCAN. A version key lives as long as the longest an
 * entry lives (its `PX`): when it expires every entry it could invalidate has expired already.
 *
 * Every call is bounded: it resolves `undefined` when Redis does not answer within `timeoutMs`,
 * fails, is disconnected (the client has no offline queue), or when MAX_PENDING calls are
 * unanswered already — the caller treats that as "L2 unavailable", never waits longer.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Timers } from '../../clock.js';
import { decodeMeta, encodeMeta, ownedCopy, type CachedResponse } from './entry.js';
import { ALL, keyTag } from './versions.js';

/** Unanswered calls past which new ones are refused at once (a stalled Redis cannot pile them up). */
export const MAX_PENDING = 256;

// KEYS: entry, seq, lock. ARGV: version key prefix, the key's pseudo-tag.
// Reply: {seq, locked} on a miss, {seq, locked, meta, body} on a valid entry.
const LOOKUP = `
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local locked = redis.call('EXISTS', KEYS[3])
local e = redis.call('HMGET', KEYS[1], 's', 'g', 'm', 'b')
if not e[1] or not e[3] or not e[4] then return {seq, locked} end
local s = tonumber(e[1])
local function bumped(tag)
  local v = redis.call('GET', ARGV[1] .. tag)
  return v and tonumber(v) > s
end
if bumped('${ALL}') or bumped(ARGV[2]) then return {seq, locked} end
for tag in string.gmatch(e[2] or '', '[^,]+') do
  if bumped(tag) then return {seq, locked} end
end
return {seq, locked, e[3], e[4]}
`;

// KEYS: seq, then entries to delete. ARGV: version key prefix, version TTL (ms), then tags.
const INVALIDATE = `
local seq = redis.call('INCR', KEYS[1])
for i = 3, #ARGV do redis.call('SET', ARGV[1] .. ARGV[i], seq, 'PX', ARGV[2]) end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return seq
`;

// KEYS: lock. ARGV: token.
const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');
const SCRIPTS = {
  lookup: { text: LOOKUP, sha: sha1(LOOKUP) },
  invalidate: { text: INVALIDATE, sha: sha1(INVALIDATE) },
  unlock: { text: UNLOCK, sha: sha1(UNLOCK) },
} as const;
type Script = (typeof SCRIPTS)[keyof typeof SCRIPTS];

export interface L2Lookup {
  /** The policy's sequence number read with the entry: what an entry stored for this lookup is numbered. */
  readonly seq: number;
  /** Whether another gateway holds the coalescing lock of the key. */
  readonly locked: boolean;
  /** The valid entry (fresh or not: its freshUntil says), if any. */
  readonly response: CachedResponse | undefined;
}

export interface L2Stats {
  calls: number;
  errors: number;
  timeouts: number;
  /** Calls refused at once because MAX_PENDING were unanswered. */
  shed: number;
}

export interface L2Options {
  readonly redis: Redis;
  /** Key prefix, e.g. `jarvis:cache:`. */
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly timers: Timers;
}

export class RedisLevel {
  readonly stats: L2Stats = { calls: 0, errors: 0, timeouts: 0, shed: 0 };
  readonly #redis: Redis;
  readonly #prefix: string;
  #pending = 0;

  constructor(private readonly options: L2Options) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
  }

  /** Whether the client is connected (a disconnected level is skipped without a call). */
  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  #base(policy: string): string {
    return `${this.#prefix}{${policy}}:`;
  }

  entryKey(policy: string, key: string): string {
    return `${this.#base(policy)}e:${key}`;
  }

  async lookup(policy: string, key: string): Promise<L2Lookup | undefined> {
    const base = this.#base(policy);
    const reply = await this.#call((r) =>
      this.#script(r, SCRIPTS.lookup, [`${base}e:${key}`, `${base}seq`, `${base}l:${key}`], [`${base}v:`, keyTag(key)]),
    );
    if (!Array.isArray(reply)) return undefined;
    const [seq, locked, meta, body] = reply as unknown[];
    if (typeof seq !== 'number' || typeof locked !== 'number') return undefined;
    const response = Buffer.isBuffer(meta) && Buffer.isBuffer(body) ? decodeMeta(meta, ownedCopy([body], body.length)) : undefined;
    return { seq, locked: locked === 1, response };
  }

  /** Stores `response` numbered `seq` for `ttlMs`. False when Redis did not take it. */
  async store(policy: string, key: string, seq: number, response: CachedResponse, ttlMs: number): Promise<boolean> {
    const k = this.entryKey(policy, key);
    const reply = await this.#call((r) =>
      r
        .multi()
        .hset(k, { s: String(seq), g: response.tags.join(','), m: encodeMeta(response), b: response.body })
        .pexpire(k, Math.max(1, Math.ceil(ttlMs)))
        .exec(),
    );
    return Array.isArray(reply) && reply.every(([err]) => err === null);
  }

  /**
   * Bumps `tags` (and the pseudo-tags of `keys`, whose entries are deleted too) in one script;
   * version keys live `versionTtlMs`. Resolves the new sequence number, or undefined.
   */
  async invalidate(policy: string, tags: readonly string[], keys: readonly string[], versionTtlMs: number): Promise<number | undefined> {
    const base = this.#base(policy);
    const reply = await this.#call((r) =>
      this.#script(
        r,
        SCRIPTS.invalidate,
        [`${base}seq`, ...keys.map((k) => `${base}e:${k}`)],
        [`${base}v:`, String(Math.max(1, Math.ceil(versionTtlMs))), ...tags, ...keys.map(keyTag)],
      ),
    );
    return typeof reply === 'number' ? reply : undefined;
  }

  /** Takes the coalescing lock of `key` for `ttlMs`: its token, or undefined when held elsewhere or unavailable. */
  async lock(policy: string, key: string, ttlMs: number): Promise<string | undefined> {
    const token = randomBytes(12).toString('base64url');
    const reply = await this.#call((r) => r.set(`${this.#base(policy)}l:${key}`, token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'));
    return reply === 'OK' ? token : undefined;
  }

  /** Releases a lock taken with `token` (a lock that expired and was taken by another stays). */
  async unlock(policy: string, key: string, token: string): Promise<void> {
    await this.#call((r) => this.#script(r, SCRIPTS.unlock, [`${this.#base(policy)}l:${key}`], [token]));
  }

  /** Publishes on a channel (cross-instance invalidation); false when not sent. */
  async publish(channel: string, message: string): Promise<boolean> {
    const reply = await this.#call((r) => r.publish(channel, message));
    return typeof reply === 'number';
  }

  async #script(r: Redis, script: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      return await r.callBuffer('EVALSHA', script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await r.callBuffer('EVAL', script.text, keys.length, ...keys, ...args);
    }
  }

  /** Runs one call within the bounds: undefined on timeout, error, disconnection or overload. */
  #call<T>(fn: (r: Redis) => Promise<T>): Promise<T | undefined> {
    if (!this.ready) return Promise.resolve(undefined);
    if (this.#pending >= MAX_PENDING) {
      this.stats.shed++;
      return Promise.resolve(undefined);
    }
    this.#pending++;
    this.stats.calls++;
    return new Promise<T | undefined>((resolve) => {
      let done = false;
      const timer = this.options.timers.after(this.options.timeoutMs, () => {
        if (done) return;
        done = true;
        this.stats.timeouts++;
        resolve(undefined);
      });
      fn(this.#redis).then(
        (value) => {
          this.#pending--;
          if (done) return;
          done = true;
          timer.cancel();
          resolve(value);
        },
        () => {
          this.#pending--;
          if (done) return;
          this.stats.errors++;
          done = true;
          timer.cancel();
          resolve(undefined);
        },
      );
    });
  }
}
