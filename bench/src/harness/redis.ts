/**
 * What the benchmark reads from Redis and from the gateway's metrics: round trips (script calls)
 * per request. Redis is spoken to with one raw RESP command, so no client library is needed here.
 */
import { connect } from 'node:net';

import { scrapeMetric } from '@jarvis/e2e/dist/util/metrics.js';

/** Sends one command and returns the reply's payload (simple string or bulk string). */
export function redisCommand(url: string, args: readonly string[], timeoutMs = 2_000): Promise<string> {
  const u = new URL(url);
  const request = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const auth = u.password
    ? `*3\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(u.username || 'default')}\r\n${u.username || 'default'}\r\n$${Buffer.byteLength(decodeURIComponent(u.password))}\r\n${decodeURIComponent(u.password)}\r\n`
    : '';
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 6379) });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`Redis at ${u.host} did not answer within ${timeoutMs} ms`)));
    let buffer = Buffer.alloc(0);
    let skip = auth ? 1 : 0;
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const head = buffer.subarray(0, eol).toString('utf8');
        let payload: string;
        let used: number;
        if (head.startsWith('$')) {
          const len = Number(head.slice(1));
          if (len < 0) {
            payload = '';
            used = eol + 2;
          } else {
            if (buffer.length < eol + 2 + len + 2) return;
            payload = buffer.subarray(eol + 2, eol + 2 + len).toString('utf8');
            used = eol + 2 + len + 2;
          }
        } else if (head.startsWith('-')) {
          socket.destroy();
          reject(new Error(`Redis: ${head.slice(1)}`));
          return;
        } else {
          payload = head.slice(1);
          used = eol + 2;
        }
        buffer = buffer.subarray(used);
        if (skip > 0) {
          skip--;
          continue;
        }
        socket.end();
        resolve(payload);
        return;
      }
    });
    socket.once('error', reject);
    socket.write(auth + request);
  });
}

/** `cmdstat_<name>` calls from `INFO commandstats`. */
export async function redisCommandCalls(url: string): Promise<Map<string, number>> {
  const text = await redisCommand(url, ['INFO', 'commandstats']);
  const calls = new Map<string, number>();
  for (const line of text.split('\r\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m?.[1] && m[2]) calls.set(m[1], Number(m[2]));
  }
  return calls;
}

/** Script invocations: what one round trip for all levels of a request is made of. */
export const SCRIPT_COMMANDS = ['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro'] as const;

export function scriptCalls(calls: ReadonlyMap<string, number>): number {
  return SCRIPT_COMMANDS.reduce((sum, c) => sum + (calls.get(c) ?? 0), 0);
}

/** The gateway's count of Redis round trips (`jarvis_gateway_redis_round_trips_total`), if it exposes one. */
export function gatewayRedisCommands(adminUrl: string): Promise<number | undefined> {
  return scrapeMetric(`${adminUrl}/metrics`, 'jarvis_gateway_redis_round_trips_total');
}

/** The gateway's count of rate-limit checks sent to Redis (`jarvis_gateway_redis_checks_total`): one per limited request. */
export function gatewayRedisChecks(adminUrl: string): Promise<number | undefined> {
  return scrapeMetric(`${adminUrl}/metrics`, 'jarvis_gateway_redis_checks_total');
}

/** The cumulative buckets of the gateway's successful Redis round trips: upper bound (s) → count. */
export async function redisRoundTripBuckets(adminUrl: string): Promise<Map<number, number> | undefined> {
  let text: string;
  try {
    text = await (await fetch(`${adminUrl}/metrics`)).text();
  } catch {
    return undefined;
  }
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^jarvis_gateway_redis_duration_seconds_bucket\{le="([^"]+)",outcome="ok"\} (\d+(?:\.\d+)?)$/gm)) {
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    out.set(le, Number(m[2]));
  }
  return out.size > 0 ? out : undefined;
}

/**
 * The median of the round trips between two readings of the buckets (ms), interpolated linearly
 * inside its bucket; undefined when no round trip happened in between.
 */
export function roundTripMedianMs(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number | undefined {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return undefined;
  const half = total / 2;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const le = bounds[i] as number;
    const c = counts[i] as number;
    if (c >= half) {
      if (!Number.isFinite(le)) return lower * 1000;
      const inBucket = c - below;
      return (lower + (inBucket > 0 ? ((half - below) / inBucket) * (le - lower) : 0)) * 1000;
    }
    below = c;
    lower = le;
  }
  return undefined;
}
