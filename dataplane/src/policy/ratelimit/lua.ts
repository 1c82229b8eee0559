/**
 * The one Lua script of the Redis store: every op (level × scope value) of a request in one
 * EVALSHA, all or nothing. It mirrors algorithms.ts operation by operation, in the same double
 * arithmetic, and stores numbers with `%.17g` so that they read back bit for bit.
 *
 * KEYS[i]: the counter of op i. ARGV[1]: the time in ms, or '' to use the server's TIME (the
 * normal case: every gateway replica shares one clock). Tests pass their clock here.
 * ARGV[1 + i]: op i as one string of 7 numbers separated by single spaces: algorithm code,
 * limit, period ms, burst, cost, shadow (0/1), max wait ms (-1: reject; GCRA only). One argument
 * per op instead of seven: every argument costs the client and the server work of its own.
 *
 * Phase 1 reads every string counter with one MGET (a sliding log, a sorted set, reads as nil
 * there and is read with ZRANGEBYSCORE) and decides each op; nothing is written. Phase 2 runs
 * only when every non-shadow op allowed: it writes each op that allowed (a shadow op that would
 * reject is not charged) and sets its TTL (SET PX, or PEXPIRE on the sliding-log set) to the time
 * after which its state no longer matters, so idle counters disappear by themselves.
 *
 * Reply: one string of numbers separated by single spaces: admitted 0/1, wait ms, then per op
 * allowed 0/1, remaining, reset ms, retry ms. One bulk string instead of an array of 2 + 4n
 * elements; fractional numbers are written with %.17g, so they read back exactly.
 *
 * Needs Redis ≥ 5 (script effects replication, so writes after TIME are allowed).
 */
import { createHash } from 'node:crypto';

export const LIMIT_SCRIPT = `
local F = '%.17g'
local F2 = '%.17g %.17g'
local F3 = '%.17g %.17g %.17g'
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local n = #KEYS
local okAll, waitAll = true, 0
local ok, wait, rem0, rem1, res0, res1, retry, setv, ttl, shadow, cost, period, logn = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
local state = redis.call('MGET', unpack(KEYS))
for i = 1, n do
  local key = KEYS[i]
  local a1, a2, a3, a4, a5, a6, a7 = string.match(ARGV[i + 1], '^(%d) (%S+) (%S+) (%S+) (%S+) ([01]) (%S+)$')
  if not a1 then return redis.error_reply('malformed op ' .. i) end
  local alg = tonumber(a1)
  local limit = tonumber(a2)
  local P = tonumber(a3)
  local burst = tonumber(a4)
  local c = tonumber(a5)
  shadow[i] = a6 == '1'
  local maxWait = tonumber(a7)
  cost[i] = c
  period[i] = P
  wait[i] = 0
  retry[i] = 0
  local v = state[i]
  if alg == 1 then
    local cap = burst * P
    local need = c * P
    local tokens, last = cap, now
    if v then
      local x, y = string.match(v, '^(%S+) (%S+)$')
      tokens, last = tonumber(x), tonumber(y)
    end
    if now > last then
      tokens = math.min(cap, tokens + (now - last) * limit)
      last = now
    end
    ok[i] = need <= tokens
    local after = tokens - need
    rem0[i] = math.floor(tokens / P)
    rem1[i] = math.floor(after / P)
    res0[i] = (cap - tokens) / limit
    res1[i] = (cap - after) / limit
    if not ok[i] then
      if c > burst then retry[i] = -1 else retry[i] = (need - tokens) / limit end
    end
    setv[i] = string.format(F2, after, last)
    ttl[i] = res1[i]
  elseif alg == 2 then
    local T = P / limit
    local tau = T * burst
    local tat = now
    if v then tat = tonumber(v) end
    local base = math.max(tat, now)
    local newTat = base + T * c
    local diff = newTat - tau - now
    if diff <= 0 then
      ok[i] = true
    elseif maxWait >= 0 and c <= burst and diff <= maxWait then
      ok[i] = true
      wait[i] = diff
    else
      ok[i] = false
      if c > burst then retry[i] = -1 else retry[i] = diff end
    end
    rem0[i] = math.max(0, math.floor((tau - (base - now)) / T))
    rem1[i] = math.max(0, math.floor((tau - (newTat - now)) / T))
    res0[i] = base - now
    res1[i] = newTat - now
    setv[i] = string.format(F, newTat)
    ttl[i] = res1[i]
  elseif alg == 5 then
    local w = math.floor(now / P)
    local count = 0
    if v then
      local x, y = string.match(v, '^(%S+) (%S+)$')
      if tonumber(x) == w then count = tonumber(y) end
    end
    ok[i] = count + c <= limit
    rem0[i] = math.max(0, limit - count)
    rem1[i] = math.max(0, limit - count - c)
    local reset = (w + 1) * P - now
    if count > 0 then res0[i] = reset else res0[i] = 0 end
    res1[i] = reset
    if not ok[i] then
      if c > limit then retry[i] = -1 else retry[i] = reset end
    end
    setv[i] = string.format(F2, w, count + c)
    ttl[i] = reset
  elseif alg == 3 then
    local w = math.floor(now / P)
    local elapsed = now - w * P
    local curr, prev = 0, 0
    if v then
      local x, y, z = string.match(v, '^(%S+) (%S+) (%S+)$')
      local sw = tonumber(x)
      if sw == w then
        curr, prev = tonumber(y), tonumber(z)
      elseif sw == w - 1 then
        prev = tonumber(y)
      end
    end
    local weighted = prev * (P - elapsed)
    ok[i] = weighted + (curr + c) * P <= limit * P
    rem0[i] = math.max(0, math.floor((limit * P - weighted - curr * P) / P))
    rem1[i] = math.max(0, math.floor((limit * P - weighted - (curr + c) * P) / P))
    if curr > 0 then res0[i] = 2 * P - elapsed elseif prev > 0 then res0[i] = P - elapsed else res0[i] = 0 end
    res1[i] = 2 * P - elapsed
    if not ok[i] then
      if c > limit then
        retry[i] = -1
      elseif curr + c <= limit then
        retry[i] = P - ((limit - curr - c) * P) / prev - elapsed
      else
        retry[i] = P - elapsed + (P - ((limit - c) * P) / curr)
      end
    end
    setv[i] = string.format(F3, w, curr + c, prev)
    ttl[i] = res1[i]
  elseif alg == 4 then
    local cutoff = now - P
    local entries = redis.call('ZRANGEBYSCORE', key, '(' .. string.format(F, cutoff), '+inf', 'WITHSCORES')
    local sum = 0
    local count = #entries / 2
    for k = 1, #entries, 2 do
      sum = sum + tonumber(string.match(entries[k], '^(%d+):'))
    end
    ok[i] = sum + c <= limit
    rem0[i] = math.max(0, limit - sum)
    rem1[i] = math.max(0, limit - sum - c)
    if count > 0 then res0[i] = tonumber(entries[#entries]) + P - now else res0[i] = 0 end
    res1[i] = P
    if not ok[i] then
      retry[i] = -1
      if c <= limit then
        local need, freed = sum + c - limit, 0
        for k = 1, #entries, 2 do
          freed = freed + tonumber(string.match(entries[k], '^(%d+):'))
          if freed >= need then
            retry[i] = tonumber(entries[k + 1]) + P - now
            break
          end
        end
      end
    end
    logn[i] = count
    ttl[i] = P
  else
    return redis.error_reply('unknown algorithm ' .. tostring(alg))
  end
  if not shadow[i] then
    if not ok[i] then
      okAll = false
    elseif wait[i] > waitAll then
      waitAll = wait[i]
    end
  end
end
if not okAll then waitAll = 0 end
-- The reply in one string.format call: each call costs about as much as the numbers it prints.
local out = { okAll and 1 or 0, waitAll }
for i = 1, n do
  local charged = okAll and ok[i]
  if charged then
    local px = math.floor(ttl[i]) + 2
    if setv[i] then
      redis.call('SET', KEYS[i], setv[i], 'PX', px)
    else
      redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format(F, now - period[i]))
      redis.call('ZADD', KEYS[i], string.format(F, now), string.format('%d', cost[i]) .. ':' .. string.format(F, now) .. ':' .. logn[i])
      redis.call('PEXPIRE', KEYS[i], px)
    end
  end
  local k = 3 + (i - 1) * 4
  out[k] = ok[i] and 1 or 0
  if charged then
    out[k + 1], out[k + 2] = rem1[i], res1[i]
  else
    out[k + 1], out[k + 2] = rem0[i], res0[i]
  end
  out[k + 3] = retry[i]
end
return string.format('%d %.17g' .. string.rep(' %d %d %.17g %.17g', n), unpack(out))
`;

export const LIMIT_SCRIPT_SHA = createHash('sha1').update(LIMIT_SCRIPT).digest('hex');
