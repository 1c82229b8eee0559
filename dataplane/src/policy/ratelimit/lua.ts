/**
 * The one Lua script of the Redis store. One EVALSHA decides a batch of requests: every check
 * the gateway started in one event-loop turn (redis-store.ts), each with all of its ops (level ×
 * scope value), each all or nothing, one after the other in arrival order, all at one instant of
 * the server's clock. A batch of one request is the plain case; the result of a batch is exactly
 * that of its requests sent one by one at the same instant. The script mirrors algorithms.ts
 * operation by operation, in the same double arithmetic, and stores numbers with `%.17g` so that
 * they read back bit for bit (and in the same layout as every earlier version of this script, so
 * replicas of mixed versions share counters during a rolling upgrade).
 *
 * KEYS: the distinct counters of the batch. ARGV[1]: the time in ms, or '' to use the server's
 * TIME (the normal case: every gateway replica shares one clock); tests pass their clock here.
 * ARGV[2]: one JSON array of numbers, decoded by one cjson call: for each request its number of
 * ops n, then per op 3 numbers: counter (1-based index into KEYS), spec (1-based index into
 * ARGV[3]'s specs), cost. ARGV[3]: the batch's distinct op specs, one JSON array of 6 numbers per
 * spec: algorithm code, limit, period ms, burst, shadow (0/1), max wait ms (-1: reject; GCRA
 * only). Most ops of a batch share a few specs (a level's), so each is sent and decoded once.
 *
 * Each counter is read once per batch (one MGET for the string counters; a sliding log, a sorted
 * set, reads as nil there and is read with one ZRANGEBYSCORE) and written once at the end (SET
 * PX, or ZREMRANGEBYSCORE + ZADD + PEXPIRE for a log), however many requests of the batch touch
 * it. In between it lives in Lua tables. Within a request, every op is decided on the state
 * before the request; the request's ops are charged only when every non-shadow op allowed (a
 * shadow op that would reject is not charged). Each TTL is the time after which the counter's
 * state no longer matters, so idle counters disappear by themselves.
 *
 * A request whose op count is negative, −n, is an adjustment (LLM tokens settled from the
 * answer's usage; see algorithms.ts adjust): n ops of 4 numbers each — counter, spec, delta
 * (signed units), ms since the charge it corrects — applied whatever the counters' state. Its
 * reply is `1 0` and no op numbers. It rides in the same batch as the checks.
 *
 * Reply: one string of integers separated by single spaces, per request in order: admitted
 * 0/1, wait µs, then per op allowed 0/1, remaining, reset µs, retry µs. Times are rounded up to
 * whole microseconds (the memory store rounds the same way, see types.ts `toMicros`): printing
 * an integer costs Redis a third of printing a double exactly, and the reply is most of the
 * script's printing. The caller bounds a batch so that the reply's numbers fit Lua's unpack
 * (redis-store.ts, MAX_BATCH_OPS).
 *
 * Needs Redis ≥ 5 (script effects replication, so writes after TIME are allowed).
 */
import { createHash } from 'node:crypto';

export const LIMIT_SCRIPT = `
local F, F2, F3 = '%.17g', '%.17g %.17g', '%.17g %.17g %.17g'
local floor, ceil, min, max, fmt, match = math.floor, math.ceil, math.min, math.max, string.format, string.match
-- A time in ms as whole µs, rounded up and capped at 2^53 - 1 like types.ts toMicros.
local function us(ms)
  return min(ceil(ms * 1000), 9007199254740991)
end
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = t[1] * 1000 + t[2] / 1000
end
local q = cjson.decode(ARGV[2])
local spec = cjson.decode(ARGV[3])
local raw = {}
if #KEYS > 0 then raw = redis.call('MGET', unpack(KEYS)) end
-- Per counter: loaded, algorithm, state present, state numbers, TTL, charged; the charged ones in order.
local loaded, kalg, has, A, B, C, ttl, dirty, dlist, nd = {}, {}, {}, {}, {}, {}, {}, {}, {}, 0
-- Per sliding log: period, scores and costs in time order, their sum, the entries this batch adds.
local lperiod, lscore, lcost, lsum, ladd = {}, {}, {}, {}, {}
-- Reads counter k once per batch; false when the batch uses it with two algorithms.
local function load(k, alg, P)
  if loaded[k] then return kalg[k] == alg end
  loaded[k] = true
  kalg[k] = alg
  if alg == 4 then
    local e = redis.call('ZRANGEBYSCORE', KEYS[k], '(' .. fmt(F, now - P), '+inf', 'WITHSCORES')
    local scores, costs, sum = {}, {}, 0
    for j = 1, #e, 2 do
      local x = match(e[j], '^(%d+):') + 0
      costs[#costs + 1] = x
      scores[#scores + 1] = e[j + 1] + 0
      sum = sum + x
    end
    lperiod[k], lscore[k], lcost[k], lsum[k], ladd[k] = P, scores, costs, sum, {}
  else
    -- A counter that does not read as this algorithm's state counts as absent.
    local v = raw[k]
    if v then
      if alg == 2 then
        A[k] = tonumber(v)
        has[k] = A[k] ~= nil
      elseif alg == 3 then
        local x, y, z = match(v, '^(%S+) (%S+) (%S+)$')
        A[k], B[k], C[k] = tonumber(x), tonumber(y), tonumber(z)
        has[k] = A[k] ~= nil and B[k] ~= nil and C[k] ~= nil
      else
        local x, y = match(v, '^(%S+) (%S+)$')
        A[k], B[k] = tonumber(x), tonumber(y)
        has[k] = A[k] ~= nil and B[k] ~= nil
      end
    end
  end
  return true
end
-- Marks counter k to be written at the end, with this TTL (ms).
local function mark(k, tl)
  if not dirty[k] then
    dirty[k] = true
    nd = nd + 1
    dlist[nd] = k
  end
  ttl[k] = tl
end
-- The current request's ops.
local sk, sok, srem0, srem1, sres0, sres1, sretry, sa, sb, sc, sttl, scost = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
local out, fmts, FMT, o, g = {}, {}, {}, 0, 0
local p, nq = 1, #q
while p <= nq do
  local n = q[p]
  p = p + 1
  if n < 0 then
  -- An adjustment (LLM tokens settled from the answer): per op counter, spec, delta, ms since
  -- the charge; applied whatever the state, never rejects (algorithms.ts adjust mirrors it).
  for i = 1, -n do
    local k, s, d, since = q[p], (q[p + 1] - 1) * 6, q[p + 2], q[p + 3]
    p = p + 4
    local alg, limit, P, burst = spec[s + 1], spec[s + 2], spec[s + 3], spec[s + 4]
    if not load(k, alg, P) then return redis.error_reply('counter ' .. k .. ' used with two algorithms') end
    if alg == 4 then
      if d > 0 then
        local scores = lscore[k]
        local m = #scores + 1
        scores[m] = now
        lcost[k][m] = d
        lsum[k] = lsum[k] + d
        local add = ladd[k]
        add[#add + 1] = d
        add[#add + 1] = m
        mark(k, P)
      end
    elseif d ~= 0 and (has[k] or d > 0) then
      local na, nb, nc, tl = 0, 0, 0, 0
      if alg == 1 then
        local cap = burst * P
        local tokens, last = cap, now
        if has[k] then tokens, last = A[k], B[k] end
        if now > last then
          tokens = min(cap, tokens + (now - last) * limit)
          last = now
        end
        tokens = tokens - d * P
        if d < 0 then tokens = min(cap, tokens) end
        na, nb, tl = tokens, last, (cap - tokens) / limit
      elseif alg == 2 then
        local T = P / limit
        local base = now
        if has[k] then base = max(A[k], now) end
        local tat = max(now, base + d * T)
        na, tl = tat, tat - now
      elseif alg == 5 then
        local w = floor(now / P)
        local count = 0
        if has[k] and A[k] == w then count = B[k] end
        if d > 0 then
          count = count + d
        elseif floor((now - since) / P) == w then
          count = max(0, count + d)
        end
        na, nb, tl = w, count, (w + 1) * P - now
      elseif alg == 3 then
        local w = floor(now / P)
        local curr, prev = 0, 0
        if has[k] then
          if A[k] == w then
            curr, prev = B[k], C[k]
          elseif A[k] == w - 1 then
            prev = B[k]
          end
        end
        if d > 0 then
          curr = curr + d
        else
          local cw = floor((now - since) / P)
          if cw == w then
            curr = max(0, curr + d)
          elseif cw == w - 1 then
            prev = max(0, prev + d)
          end
        end
        na, nb, nc, tl = w, curr, prev, 2 * P - (now - w * P)
      else
        return redis.error_reply('unknown algorithm ' .. tostring(alg))
      end
      has[k], A[k], B[k], C[k] = true, na, nb, nc
      mark(k, tl)
    end
  end
  out[o + 1], out[o + 2] = 1, 0
  o = o + 2
  g = g + 1
  fmts[g] = '%d %d'
  else
  local okAll, waitAll = true, 0
  for i = 1, n do
    local k, s, c = q[p], (q[p + 1] - 1) * 6, q[p + 2]
    p = p + 3
    local alg, limit, P, burst, shadow, maxWait = spec[s + 1], spec[s + 2], spec[s + 3], spec[s + 4], spec[s + 5] == 1, spec[s + 6]
    if not load(k, alg, P) then return redis.error_reply('counter ' .. k .. ' used with two algorithms') end
    local ok, wait, rem0, rem1, res0, res1, retry, na, nb, nc, tl = true, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    if alg == 1 then
      local cap = burst * P
      local need = c * P
      local tokens, last = cap, now
      if has[k] then tokens, last = A[k], B[k] end
      if now > last then
        tokens = min(cap, tokens + (now - last) * limit)
        last = now
      end
      ok = need <= tokens
      local after = tokens - need
      rem0 = max(0, floor(tokens / P))
      rem1 = max(0, floor(after / P))
      res0 = (cap - tokens) / limit
      res1 = (cap - after) / limit
      if not ok then
        if c > burst then retry = -1 else retry = (need - tokens) / limit end
      end
      na, nb, tl = after, last, res1
    elseif alg == 2 then
      local T = P / limit
      local tau = T * burst
      local tat = now
      if has[k] then tat = A[k] end
      local base = max(tat, now)
      local newTat = base + T * c
      local diff = newTat - tau - now
      if diff <= 0 then
        ok = true
      elseif maxWait >= 0 and c <= burst and diff <= maxWait then
        ok = true
        wait = diff
      else
        ok = false
        if c > burst then retry = -1 else retry = diff end
      end
      rem0 = max(0, floor((tau - (base - now)) / T))
      rem1 = max(0, floor((tau - (newTat - now)) / T))
      res0 = base - now
      res1 = newTat - now
      na, tl = newTat, res1
    elseif alg == 5 then
      local w = floor(now / P)
      local count = 0
      if has[k] and A[k] == w then count = B[k] end
      ok = count + c <= limit
      rem0 = max(0, limit - count)
      rem1 = max(0, limit - count - c)
      local reset = (w + 1) * P - now
      if count > 0 then res0 = reset else res0 = 0 end
      res1 = reset
      if not ok then
        if c > limit then retry = -1 else retry = reset end
      end
      na, nb, tl = w, count + c, reset
    elseif alg == 3 then
      local w = floor(now / P)
      local elapsed = now - w * P
      local curr, prev = 0, 0
      if has[k] then
        if A[k] == w then
          curr, prev = B[k], C[k]
        elseif A[k] == w - 1 then
          prev = B[k]
        end
      end
      local weighted = prev * (P - elapsed)
      ok = weighted + (curr + c) * P <= limit * P
      rem0 = max(0, floor((limit * P - weighted - curr * P) / P))
      rem1 = max(0, floor((limit * P - weighted - (curr + c) * P) / P))
      if curr > 0 then res0 = 2 * P - elapsed elseif prev > 0 then res0 = P - elapsed else res0 = 0 end
      res1 = 2 * P - elapsed
      if not ok then
        if c > limit then
          retry = -1
        elseif curr + c <= limit then
          retry = P - ((limit - curr - c) * P) / prev - elapsed
        else
          retry = P - elapsed + (P - ((limit - c) * P) / curr)
        end
      end
      na, nb, nc, tl = w, curr + c, prev, res1
    elseif alg == 4 then
      local scores, costs, sum = lscore[k], lcost[k], lsum[k]
      local count = #scores
      ok = sum + c <= limit
      rem0 = max(0, limit - sum)
      rem1 = max(0, limit - sum - c)
      if count > 0 then res0 = scores[count] + P - now else res0 = 0 end
      res1 = P
      if not ok then
        retry = -1
        if c <= limit then
          local need, freed = sum + c - limit, 0
          for j = 1, count do
            freed = freed + costs[j]
            if freed >= need then
              retry = scores[j] + P - now
              break
            end
          end
        end
      end
      tl = P
    else
      return redis.error_reply('unknown algorithm ' .. tostring(alg))
    end
    sk[i], sok[i], srem0[i], srem1[i], sres0[i], sres1[i], sretry[i] = k, ok, rem0, rem1, res0, res1, retry
    sa[i], sb[i], sc[i], sttl[i], scost[i] = na, nb, nc, tl, c
    if not shadow then
      if not ok then
        okAll = false
      elseif wait > waitAll then
        waitAll = wait
      end
    end
  end
  if not okAll then waitAll = 0 end
  out[o + 1], out[o + 2] = okAll and 1 or 0, us(waitAll)
  o = o + 2
  for i = 1, n do
    local k, ok = sk[i], sok[i]
    local charged = okAll and ok
    if charged then
      if not dirty[k] then
        dirty[k] = true
        nd = nd + 1
        dlist[nd] = k
      end
      ttl[k] = sttl[i]
      if kalg[k] == 4 then
        local scores = lscore[k]
        local m = #scores + 1
        scores[m] = now
        lcost[k][m] = scost[i]
        lsum[k] = lsum[k] + scost[i]
        -- The entry's member ends with its place in the window, so two entries of one instant
        -- (two requests of a batch, or one key twice in a request) stay two.
        local add = ladd[k]
        add[#add + 1] = scost[i]
        add[#add + 1] = m
      else
        has[k], A[k], B[k], C[k] = true, sa[i], sb[i], sc[i]
      end
    end
    out[o + 1] = ok and 1 or 0
    if charged then
      out[o + 2], out[o + 3] = srem1[i], us(sres1[i])
    else
      out[o + 2], out[o + 3] = srem0[i], us(sres0[i])
    end
    out[o + 4] = us(sretry[i])
    o = o + 4
  end
  local f = FMT[n]
  if not f then
    f = '%d %d' .. string.rep(' %d %d %d %d', n)
    FMT[n] = f
  end
  g = g + 1
  fmts[g] = f
  end
end
for j = 1, nd do
  local k = dlist[j]
  local key, alg, px = KEYS[k], kalg[k], floor(ttl[k]) + 2
  if alg == 2 then
    redis.call('SET', key, fmt(F, A[k]), 'PX', px)
  elseif alg == 3 then
    redis.call('SET', key, fmt(F3, A[k], B[k], C[k]), 'PX', px)
  elseif alg == 4 then
    local add, args, ts = ladd[k], {}, fmt(F, now)
    for m = 1, #add, 2 do
      args[#args + 1] = ts
      args[#args + 1] = fmt('%d', add[m]) .. ':' .. ts .. ':' .. add[m + 1]
    end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(F, now - lperiod[k]))
    redis.call('ZADD', key, unpack(args))
    redis.call('PEXPIRE', key, px)
  else
    redis.call('SET', key, fmt(F2, A[k], B[k]), 'PX', px)
  end
end
return fmt(table.concat(fmts, ' '), unpack(out))
`;

export const LIMIT_SCRIPT_SHA = createHash('sha1').update(LIMIT_SCRIPT).digest('hex');
