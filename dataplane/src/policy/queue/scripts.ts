/**
 * The Lua scripts that move a job between its states atomically, so that a job is never in two
 * places (its stream, the retry set, the DLQ) and never finished twice: every script that ends an
 * attempt acknowledges and deletes the attempt's stream entry in the same step, and refuses (and
 * counts in `duplicates`) a job that is not running any more — cancelled, or finished by another
 * worker that reclaimed it. Keys a script touches are passed as KEYS and share the namespace's hash tag.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** EVALSHA, loading the script on NOSCRIPT; replies as strings and numbers. */
  async run(redis: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /** The same with binary replies (bodies). */
  async runBuffer(redis: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await redis.callBuffer('EVALSHA', this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.callBuffer('EVAL', this.source, keys.length, ...keys, ...args);
    }
  }
}

/**
 * KEYS: stream, delayed, job, idem. ARGV: job id, max pending, idem ttl ms, hash ttl ms, class,
 * has idem (1/0), flow, then the job's field/value pairs. → {1, id} | {0, existing id} | {-1, ''}.
 */
export const SUBMIT = new Script(`
if ARGV[6] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {0, existing} end
end
local pending = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
if pending >= tonumber(ARGV[2]) then return {-1, ''} end
redis.call('HSET', KEYS[3], unpack(ARGV, 8))
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('XADD', KEYS[1], '*', 'job', ARGV[1], 'cls', ARGV[5], 'flow', ARGV[7])
if ARGV[6] == '1' then redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[3]) end
return {1, ARGV[1]}
`);

/** The request fields START returns after state and attempts. */
export const START_FIELDS = ['method', 'path', 'headers', 'body', 'tenant', 'user', 'clientIp', 'idem', 'maxAttempts'] as const;

/**
 * KEYS: job. ARGV: now, hash ttl ms. A pending (or reclaimed running) job becomes running with one
 * more attempt → {'running', attempts, ...START_FIELDS}; otherwise {state} ('missing' when gone).
 */
export const START = new Script(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'missing'} end
if st ~= 'pending' and st ~= 'running' then return {st} end
redis.call('HSET', KEYS[1], 'state', 'running', 'updatedAt', ARGV[1])
local a = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local f = redis.call('HMGET', KEYS[1], ${START_FIELDS.map((f) => `'${f}'`).join(', ')})
local out = {'running', tostring(a)}
for i = 1, #f do out[#out + 1] = f[i] or '' end
return out
`);

/** KEYS: job, stream. ARGV: entry id, now, result ttl ms, then result field/value pairs. → 1 | 0 (refused). */
export const COMPLETE = new Script(`
redis.call('XACK', KEYS[2], 'workers', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'running' then
  if st then redis.call('HINCRBY', KEYS[1], 'duplicates', 1) end
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'updatedAt', ARGV[2], 'finishedAt', ARGV[2], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`);

/** KEYS: job, stream, delayed. ARGV: entry id, now, due at, job id, error, hash ttl ms, status. → 1 | 0 (refused). */
export const RETRY = new Script(`
redis.call('XACK', KEYS[2], 'workers', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'running' then
  if st then redis.call('HINCRBY', KEYS[1], 'duplicates', 1) end
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'pending', 'updatedAt', ARGV[2], 'error', ARGV[5], 'status', ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
`);

/**
 * KEYS: job, stream, delayed. ARGV: entry id, now, due at, job id, hash ttl ms. A job that is not
 * to run now (its class is shed) goes back to the retry set unchanged — no attempt counted. A
 * finished or cancelled job is dropped. → 1 | 0 (dropped).
 */
export const DEFER = new Script(`
redis.call('XACK', KEYS[2], 'workers', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'pending' and st ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending', 'updatedAt', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`);

/** The fields of a dead-letter entry, in the order they are written. */
export const DLQ_FIELDS = [
  'kind',
  'job',
  'route',
  'policy',
  'reason',
  'attempts',
  'status',
  'firstAt',
  'failedAt',
  'tenant',
  'user',
  'class',
  'flow',
  'method',
  'path',
  'headers',
  'body',
  'bodyBytes',
  'bodyTruncated',
] as const;
export type DlqField = (typeof DLQ_FIELDS)[number];

/**
 * KEYS: job, stream, dlq. ARGV: entry id, now, reason, result ttl ms, dlq max length, dlq min id,
 * body cap, job id, status, write (1: into the DLQ; 0: the policy has none, KEYS[3] unused). The
 * job is failed and its copy goes to the DLQ (body cut at the cap) → DLQ entry id | '-' (no DLQ)
 * | '' (refused).
 */
export const DEAD_LETTER = new Script(`
redis.call('XACK', KEYS[2], 'workers', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'running' then
  if st then redis.call('HINCRBY', KEYS[1], 'duplicates', 1) end
  return ''
end
if ARGV[10] ~= '1' then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'updatedAt', ARGV[2], 'finishedAt', ARGV[2], 'error', ARGV[3], 'status', ARGV[9])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return '-'
end
local j = redis.call('HMGET', KEYS[1], 'route', 'policy', 'attempts', 'submittedAt', 'tenant', 'user', 'cls', 'flow', 'method', 'path', 'headers', 'body')
local body = j[12] or ''
local cap = tonumber(ARGV[7])
local cut = '0'
if #body > cap then body = string.sub(body, 1, cap); cut = '1' end
local e = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
  'kind', 'job', 'job', ARGV[8], 'route', j[1] or '', 'policy', j[2] or '', 'reason', ARGV[3], 'attempts', j[3] or '0',
  'status', ARGV[9], 'firstAt', j[4] or '', 'failedAt', ARGV[2], 'tenant', j[5] or '', 'user', j[6] or '', 'class', j[7] or '',
  'flow', j[8] or '', 'method', j[9] or '', 'path', j[10] or '', 'headers', j[11] or '{}', 'body', body,
  'bodyBytes', tostring(#(j[12] or '')), 'bodyTruncated', cut)
redis.call('XTRIM', KEYS[3], 'MINID', '~', ARGV[6])
redis.call('HSET', KEYS[1], 'state', 'failed', 'updatedAt', ARGV[2], 'finishedAt', ARGV[2], 'error', ARGV[3], 'status', ARGV[9], 'dlq', e)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return e
`);

/**
 * KEYS: delayed, stream. ARGV: now, most to move, the namespace's job key prefix. Due retries back
 * into the stream, with their class and flow read from each job's hash (same hash tag) → {moved,
 * next due or ''}.
 */
export const PROMOTE = new Script(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local hex = string.match(id, '%.(%x+)$') or ''
  local cf = redis.call('HMGET', ARGV[3] .. hex, 'cls', 'flow')
  redis.call('XADD', KEYS[2], '*', 'job', id, 'cls', cf[1] or '', 'flow', cf[2] or '')
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, nxt[2] or ''}
`);

/** KEYS: job, delayed. ARGV: now, job id. → 'ok' (cancelled now) | the job's state | 'missing'. */
export const CANCEL = new Script(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'missing' end
if st ~= 'pending' and st ~= 'running' then return st end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'updatedAt', ARGV[1], 'finishedAt', ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
local ttl = redis.call('HGET', KEYS[1], 'resultTtl')
if ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 'ok'
`);

/**
 * KEYS: dlq, job, stream. ARGV: entry id, job id, now, max attempts, hash ttl ms, result ttl ms,
 * route, policy. A dead-letter entry back into its route's job stream with a new attempt budget,
 * removed from the DLQ → 1 | 0 (no such entry: purged or replayed) | -1 (its body was cut).
 */
export const REPLAY = new Script(`
local r = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #r == 0 then return 0 end
local f = {}
local kv = r[1][2]
for i = 1, #kv, 2 do f[kv[i]] = kv[i + 1] end
if f['bodyTruncated'] == '1' then return -1 end
local idem = redis.call('HGET', KEYS[2], 'idem') or ARGV[2]
local replays = tonumber(redis.call('HGET', KEYS[2], 'replays') or '0') + 1
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'state', 'pending', 'route', ARGV[7], 'policy', ARGV[8], 'cls', f['class'] or '',
  'flow', f['flow'] or '', 'tenant', f['tenant'] or '', 'user', f['user'] or '', 'clientIp', '', 'method', f['method'] or 'GET',
  'path', f['path'] or '/', 'headers', f['headers'] or '{}', 'body', f['body'] or '', 'idem', idem, 'attempts', '0',
  'maxAttempts', ARGV[4], 'submittedAt', f['firstAt'] or ARGV[3], 'updatedAt', ARGV[3], 'resultTtl', ARGV[6], 'replayedFrom', ARGV[1], 'replays', tostring(replays))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('XADD', KEYS[3], '*', 'job', ARGV[2], 'cls', f['class'] or '', 'flow', f['flow'] or '')
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
`);
