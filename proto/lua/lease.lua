#!lua flags=allow-oom
-- kwq protocol v1: lease (docs/PROTOCOL.md "lease").
-- Reaps inline (expired leases, due delayed tasks: up to 100 each), then
-- leases up to max tasks from the head of pending, each under a fresh
-- fencing token, until now + lease_ms.
-- KEYS[1..12]: the queue's fixed keys (pending data meta leased leases delayed
--   dead stats conf seq wake results).
-- ARGV[1]: max tasks (1..10000); ARGV[2]: lease_ms (>= 1).
-- Reply: flat array: sealed (0/1), drained (0/1), next_due_ms, count k, then k
--   groups of 7: id, token, attempt, max_attempts, timeout_ms, enqueued_ms, payload.
--   next_due_ms (only when k = 0, else -1): ms until the earliest lease deadline
--   or delayed due time, -1 when there is none.
-- Errors: KWQ_INVAL (bad max or lease_ms).
-- kwq:include common
-- kwq:include reap

local max, lease_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
if not max or max < 1 or max > 10000 or not lease_ms or lease_ms < 1 then
    return redis.error_reply('KWQ_INVAL lease needs max in 1..10000 and lease_ms >= 1')
end
local conf = redis.call('HMGET', K_CONF, 'sealed', 'max_attempts')
local sealed = conf[1] ~= false
local max_default = tonumber(conf[2] or '3')
reap(100, max_default)

local reply = {0, 0, -1, 0}
if sealed then reply[1] = 1 end
local popped = redis.call('LPOP', K_PENDING, max)
local k = 0
if popped then
    local ids, enqs = {}, {}
    for i, e in ipairs(popped) do
        local c = string.find(e, ':', 1, true)
        if c then
            ids[i] = string.sub(e, 1, c - 1)
            enqs[i] = string.sub(e, c + 1)
        else
            ids[i] = e
            enqs[i] = '0'
        end
    end
    -- unpack() is limited to ~8000 values: read in chunks of 1000.
    local datas, metas = {}, {}
    for s = 1, #ids, 1000 do
        local e = math.min(s + 999, #ids)
        local d = redis.call('HMGET', K_DATA, unpack(ids, s, e))
        local m = redis.call('HMGET', K_META, unpack(ids, s, e))
        for j = 1, #d do
            datas[s + j - 1] = d[j]
            metas[s + j - 1] = m[j]
        end
    end
    local ghosts = 0
    for i = 1, #ids do
        if datas[i] then k = k + 1 else ghosts = ghosts + 1 end
    end
    if ghosts > 0 then
        local g = tonumber(redis.call('HGET', K_STATS, 'ghosts')) or 0
        if g - ghosts > 0 then
            redis.call('HSET', K_STATS, 'ghosts', g - ghosts)
        else
            redis.call('HDEL', K_STATS, 'ghosts')
        end
    end
    if k > 0 then
        -- Tokens count the leases granted (stats "leases"): unique per task ID, and IDs are
        -- never reused, so a token can never match another lease of the same task.
        local token = redis.call('HINCRBY', K_STATS, 'leases', k) - k + 1
        local deadline = now + lease_ms
        local zargs, hargs = {}, {}
        local z, r = 0, 4
        local mid = ':' .. now .. ':'
        for i = 1, #ids do
            local id = ids[i]
            if datas[i] then
                -- The hot path: a task with no meta record takes every default.
                local attempt, maxa, timeout = 1, max_default, 0
                if metas[i] then
                    local m = cjson.decode(metas[i])
                    attempt = (m.a or 0) + 1
                    maxa = m.m or max_default
                    timeout = m.t or 0
                end
                zargs[z + 1] = deadline
                zargs[z + 2] = id
                hargs[z + 1] = id
                hargs[z + 2] = token .. ':' .. attempt .. mid .. enqs[i]
                z = z + 2
                reply[r + 1] = id
                reply[r + 2] = token
                reply[r + 3] = attempt
                reply[r + 4] = maxa
                reply[r + 5] = timeout
                reply[r + 6] = enqs[i]
                reply[r + 7] = datas[i]
                r = r + 7
                token = token + 1
            end
        end
        chunked('ZADD', K_LEASED, zargs, 2000)
        chunked('HSET', K_LEASES, hargs, 2000)
    end
end
reply[4] = k

if pending_count() > 0 then
    ensure_wake() -- chain: wake the next waiter while work remains
elseif k == 0 then
    if is_drained(sealed) then
        reply[2] = 1
        ensure_wake() -- every waiter wakes in turn, sees drained, and stops
    else
        local due = -1
        local l = redis.call('ZRANGE', K_LEASED, 0, 0, 'WITHSCORES')
        if l[2] then due = tonumber(l[2]) end
        local d = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
        if d[2] and (due < 0 or tonumber(d[2]) < due) then due = tonumber(d[2]) end
        if due >= 0 then
            due = due - now
            if due < 0 then due = 0 end
        end
        reply[3] = due
        trim_results(redis.call('HGET', K_CONF, 'result_ttl_ms'))
    end
end
return reply
