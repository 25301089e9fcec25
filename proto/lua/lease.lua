#!lua flags=allow-oom
-- kwq protocol v2: lease (docs/PROTOCOL.md "lease").
-- Reaps inline (expired leases, due delayed tasks: up to 100 each), then
-- leases up to max tasks from the head of pending, each under a fresh
-- fencing token, until now + lease_ms.
-- KEYS[1..12]: the queue's fixed keys (pending data meta leased leases delayed
--   dead stats conf seq wake results).
-- ARGV[1]: max tasks (1..10000); ARGV[2]: lease_ms (>= 1); ARGV[3] (optional,
--   default 16777216): max_bytes (1..1073741824), the cap of the payload bytes in
--   the reply. A task is leased only while the total stays within it, except the
--   first, which is leased whatever its size; the rest stay pending, in order.
-- ARGV[4]: the server run_id the client read at connect (lib/fence.lua).
-- ARGV[5] (optional; absent or empty: all): charge, how many of the leased
--   tasks (the first ones) are charged an attempt now. The rest are leased
--   uncharged (lease record suffix ":u"), prefetched by a worker that has not
--   started them: the start script charges each when it starts; an uncharged
--   lease that expires returns to pending without using an attempt.
-- Reply: flat array: sealed (0/1), drained (0/1), next_due_ms, count k, then k
--   groups of 7: id, token, attempt, max_attempts, timeout_ms, enqueued_ms, payload.
--   next_due_ms (only when k = 0, else -1): ms until the earliest lease deadline
--   or delayed due time, -1 when there is none.
-- Errors: KWQ_INVAL (bad max, lease_ms, max_bytes, run_id or charge).
-- kwq:include common
-- kwq:include fence
-- kwq:include reap

local max, lease_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
if not max or max < 1 or max > 10000 or max % 1 ~= 0 or not lease_ms or lease_ms < 1 or
    not run_id_ok(ARGV[4]) then
    return redis.error_reply('KWQ_INVAL lease needs max in 1..10000, lease_ms >= 1, ' ..
        'max_bytes and the server run_id')
end
-- The reply's payload bytes are capped: a worker asking for many big tasks
-- must not get (or make Redis build) a reply of gigabytes.
local cap = 16777216
if ARGV[3] ~= '' then
    cap = string.match(ARGV[3], '^%d+$') and tonumber(ARGV[3])
    if not cap or cap < 1 or cap > 1073741824 then
        return redis.error_reply('KWQ_INVAL lease max_bytes must be between 1 and 1073741824, ' ..
            'got ' .. tostring(ARGV[3]))
    end
end
local charge = max
if ARGV[5] and ARGV[5] ~= '' then
    charge = string.match(ARGV[5], '^%d+$') and tonumber(ARGV[5])
    if not charge or charge > max then
        return redis.error_reply('KWQ_INVAL lease charge must be between 0 and max (' .. max ..
            '), got ' .. tostring(ARGV[5]))
    end
end
local conf = redis.call('HMGET', K_CONF, 'sealed', 'max_attempts', 'payload_max', 'run_id')
local sealed = conf[1] ~= false
fence(ARGV[4], conf[4], false)
local max_default = tonumber(conf[2] or '3')
-- The largest payload stored since the queue was last empty (enqueue keeps
-- it): slices are sized so that what is read stays within the cap plus one task.
local biggest = tonumber(conf[3] or '0') or 0
reap(100, max_default)

local reply = {0, 0, -1, 0}
if sealed then reply[1] = 1 end
local k, bytes, ghosts, seen = 0, 0, 0, 0
local ids, enqs, datas = {}, {}, {}
local full = false
-- Cancelled tasks' entries (ghosts) are dropped as they come; at most max + 1000
-- entries are popped per call, so a long run of them costs several calls, not one long one.
while not full and k < max and seen < max + 1000 do
    local want = math.min(max - k, 1000)
    if biggest > 0 then
        want = math.max(1, math.min(want, math.floor((cap - bytes) / biggest)))
    end
    local popped = redis.call('LPOP', K_PENDING, want)
    if not popped then break end
    seen = seen + #popped
    local sids, senq = {}, {}
    for i, e in ipairs(popped) do
        local c = string.find(e, ':', 1, true)
        if c then
            sids[i] = string.sub(e, 1, c - 1)
            senq[i] = string.sub(e, c + 1)
        else
            sids[i] = e
            senq[i] = '0'
        end
    end
    local d = redis.call('HMGET', K_DATA, unpack(sids))
    for i = 1, #popped do
        if not d[i] then
            ghosts = ghosts + 1 -- a cancelled task's entry: dropped
        elseif k > 0 and bytes + #d[i] > cap then
            -- Over the cap: this entry and the rest of the slice go back to
            -- the head, in their order.
            local back = {}
            for j = #popped, i, -1 do back[#back + 1] = popped[j] end
            chunked('LPUSH', K_PENDING, back, 1000)
            full = true
            break
        else
            k = k + 1
            ids[k], enqs[k], datas[k] = sids[i], senq[i], d[i]
            bytes = bytes + #d[i]
        end
    end
    if bytes >= cap then full = true end
    if #popped < want then break end
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
    local metas = {}
    for s = 1, k, 1000 do
        local m = redis.call('HMGET', K_META, unpack(ids, s, math.min(s + 999, k)))
        for j = 1, #m do metas[s + j - 1] = m[j] end
    end
    -- Tokens come from one counter (stats "leases"), so no two leases share one. A
    -- new counter starts from the clock (ms * 1000), above the tokens of an earlier
    -- life of the queue that Redis lost whole (see "Rollbacks" in docs/PROTOCOL.md).
    local token = redis.call('HINCRBY', K_STATS, 'leases', k) - k + 1
    if token == 1 then
        token = now * 1000 + 1
        redis.call('HSET', K_STATS, 'leases', string.format('%.0f', token + k - 1))
    end
    local deadline = now + lease_ms
    local zargs, hargs = {}, {}
    local z, r = 0, 4
    local mid = ':' .. now .. ':'
    for i = 1, k do
        local id = ids[i]
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
        hargs[z + 2] = string.format('%.0f', token) .. ':' .. attempt .. mid .. enqs[i]
        if i > charge then hargs[z + 2] = hargs[z + 2] .. ':u' end
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
    chunked('ZADD', K_LEASED, zargs, 2000)
    chunked('HSET', K_LEASES, hargs, 2000)
end
reply[4] = k

if pending_count() > 0 then
    ensure_wake() -- chain: wake the next waiter while work remains
elseif k == 0 then
    if biggest > 0 and redis.call('HLEN', K_DATA) == 0 then
        redis.call('HDEL', K_CONF, 'payload_max') -- the queue is empty: forget old sizes
    end
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
