-- lib/common.lua (included by every script): key names, the server clock and
-- the small rules shared by all operations (docs/PROTOCOL.md).
local K_PENDING, K_DATA, K_META, K_LEASED, K_LEASES = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_DELAYED, K_DEAD, K_STATS, K_CONF = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local K_SEQ, K_WAKE, K_RESULTS = KEYS[10], KEYS[11], KEYS[12]

-- Every time comes from the server clock, read once per call: Unix ms.
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)

-- The queue's name, for messages.
local function queue_name()
    return string.match(K_CONF, '^kwq:{(.*)}:conf$') or K_CONF
end

-- The wake list holds at most one token; idle clients BLPOP it.
local function ensure_wake()
    if redis.call('LLEN', K_WAKE) == 0 then
        redis.call('RPUSH', K_WAKE, '1')
    end
end

-- Tasks waiting in pending: the list minus cancelled entries not yet popped.
local function pending_count()
    local n = redis.call('LLEN', K_PENDING)
    if n > 0 then
        n = n - (tonumber(redis.call('HGET', K_STATS, 'ghosts')) or 0)
        if n < 0 then n = 0 end
    end
    return n
end

-- Drained: sealed, and nothing pending, leased or delayed.
local function is_drained(sealed)
    return sealed and pending_count() == 0 and redis.call('ZCARD', K_LEASED) == 0
        and redis.call('ZCARD', K_DELAYED) == 0
end

-- When the queue is sealed and now holds nothing, wake the waiters so they see it.
local function wake_if_drained()
    if is_drained(redis.call('HEXISTS', K_CONF, 'sealed') == 1) then
        ensure_wake()
    end
end

-- The meta record of a task (a table; {} when the task has all defaults).
local function meta_decode(raw)
    if raw then return cjson.decode(raw) end
    return {}
end

-- Append an attempt record to a task's history, keeping the last 10.
local function push_history(m, e)
    local h = m.h or {}
    h[#h + 1] = e
    while #h > 10 do table.remove(h, 1) end
    m.h = h
end

-- s cut to at most n bytes without splitting a UTF-8 character (error texts
-- are shown and printed as JSON: half a character would make them invalid).
local function utf8_cut(s, n)
    if #s <= n then return s end
    for i = n, math.max(1, n - 2), -1 do
        local b = string.byte(s, i)
        if b < 0x80 then break end
        if b >= 0xC0 then
            local len = b >= 0xF0 and 4 or (b >= 0xE0 and 3 or 2)
            if i + len - 1 > n then n = i - 1 end
            break
        end
    end
    return string.sub(s, 1, n)
end

-- Apply a variadic command to list in slices (unpack() takes ~8000 values at most).
local function chunked(cmd, key, list, step)
    for s = 1, #list, step do
        redis.call(cmd, key, unpack(list, s, math.min(s + step - 1, #list)))
    end
end

-- Delete every trace of tasks that are gone (cancelled holders, purges).
local function delete_tasks(ids)
    if #ids == 0 then return end
    chunked('ZREM', K_LEASED, ids, 1000)
    chunked('HDEL', K_LEASES, ids, 1000)
    chunked('HDEL', K_DATA, ids, 1000)
    chunked('HDEL', K_META, ids, 1000)
end

-- The oldest results-stream entry ID (ms) a result ttl keeps: never below 0,
-- which XADD and XTRIM refuse (a ttl longer than the clock's age keeps all).
local function results_minid(ttl)
    if ttl >= now then return 0 end
    return now - ttl
end

-- Trim the results stream to the result ttl last used by an ack.
local function trim_results(ttl)
    ttl = tonumber(ttl)
    if ttl and redis.call('EXISTS', K_RESULTS) == 1 then
        redis.call('XTRIM', K_RESULTS, 'MINID', '~', results_minid(ttl))
    end
end
