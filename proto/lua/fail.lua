#!lua flags=allow-oom
-- kwq protocol v2: fail (docs/PROTOCOL.md "fail").
-- Records failed attempts: each task is retried after an exponential backoff
-- with jitter, or dead-lettered when out of attempts or refused as bad input.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV: quintuples: id, token, error (bytes, <= 4096 kept), code (integer, -1
--   none), no_retry (0/1).
-- Backoff for attempt n: b = min(backoff_base_ms * 2^(n-1), backoff_max_ms),
--   delay drawn uniformly from [b/2, b] (full jitter over the upper half).
-- Reply: flat array of triples per item: status ("OK", "KWQ_LEASELOST",
--   "KWQ_CANCELLED"), dead (0/1), retry_at_ms (server time, 0 when dead or not OK).
-- Errors: KWQ_INVAL (bad arguments), KWQ_GONE (a lease is missing and so is the
--   queue's ID sequence: the queue vanished from Redis; nothing was changed).
-- kwq:include common
-- kwq:include hold

if #ARGV < 5 or #ARGV % 5 ~= 0 then
    return redis.error_reply('KWQ_INVAL fail needs id/token/error/code/no_retry items')
end
local ids, tokens = {}, {}
for i = 1, #ARGV, 5 do
    ids[#ids + 1] = ARGV[i]
    tokens[#tokens + 1] = ARGV[i + 1]
end
local conf = redis.call('HMGET', K_CONF, 'max_attempts', 'backoff_base_ms', 'backoff_max_ms')
local max_default = tonumber(conf[1] or '3')
local base = tonumber(conf[2] or '1000')
local cap = tonumber(conf[3] or '3600000')
local recs, status, gone = check_leases(ids, tokens, true)
if not recs then return status end
local metas = redis.call('HMGET', K_META, unpack(ids))
-- Seed the jitter from the clock so that tasks failing in different calls do
-- not share one sequence. The seed must fit a C int (Lua 5.1 randomseed).
math.randomseed(tonumber(now_t[1]) % 2000 * 1000000 + tonumber(now_t[2]))
local reply = {}
local failed, dead, retries, now_ready = 0, 0, 0, false
local gone_ids = {}
for i, id in ipairs(ids) do
    local r = recs[i] and lease_fields(recs[i])
    local is_dead, due = 0, 0
    if r then
        local attempt = r[2]
        local err = ARGV[5 * (i - 1) + 3]
        err = utf8_cut(err, 4096)
        local code = tonumber(ARGV[5 * (i - 1) + 4]) or -1
        local no_retry = ARGV[5 * (i - 1) + 5] == '1'
        local m = meta_decode(metas[i])
        m.a = attempt
        m.q = r[4]
        m.e = err
        m.c = code
        local h = {n = attempt, o = 'failed', at = now, c = code, e = utf8_cut(err, 200)}
        failed = failed + 1
        if no_retry or attempt >= (m.m or max_default) then
            is_dead = 1
            h.dead = 1
            redis.call('ZADD', K_DEAD, now, id)
            dead = dead + 1
        else
            local b = base * 2 ^ (attempt - 1)
            if b > cap then b = cap end
            local half = math.floor(b / 2)
            due = now + half + math.floor(math.random() * (b - half + 1))
            if due > now + b then due = now + b end
            h.due = due
            redis.call('ZADD', K_DELAYED, due, id)
            retries = retries + 1
            if due <= now then now_ready = true end
        end
        push_history(m, h)
        redis.call('HSET', K_META, id, cjson.encode(m))
        gone_ids[#gone_ids + 1] = id
    end
    reply[#reply + 1] = status[i]
    reply[#reply + 1] = is_dead
    reply[#reply + 1] = due
end
if #gone_ids > 0 then
    redis.call('ZREM', K_LEASED, unpack(gone_ids))
    redis.call('HDEL', K_LEASES, unpack(gone_ids))
    redis.call('HINCRBY', K_STATS, 'failed', failed)
end
if dead > 0 then redis.call('HINCRBY', K_STATS, 'dead_total', dead) end
if retries > 0 then redis.call('HINCRBY', K_STATS, 'retries', retries) end
if now_ready then
    ensure_wake() -- a retry due now: the next lease promotes it
elseif dead > 0 or gone > 0 then
    wake_if_drained()
end
return reply
