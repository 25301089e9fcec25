#!lua flags=no-writes
-- kwq protocol v2: task (docs/PROTOCOL.md "task").
-- Reads one task by ID: where it is, its fields, history and kept result.
-- KEYS[1..12]: the queue's fixed keys; KEYS[13]: kwq:{q}:result:<id>.
-- ARGV[1]: task ID.
-- Reply: array: state ("pending", "leased", "delayed", "dead", "done"), id,
--   payload (nil for done), token (0 unless leased), attempts (attempts made;
--   for a leased task, the current attempt), max_attempts, timeout_ms,
--   enqueued_ms (0 when no longer known), due_ms (leased: lease deadline;
--   delayed: due time; else 0), history (JSON array text), result (nil when
--   none), done_ms (server time of the ack, 0 unless done).
-- Errors: KWQ_NOTFOUND (never existed, done without a kept result, purged,
--   cancelled).
-- kwq:include common

local id = ARGV[1]
local conf_max = tonumber(redis.call('HGET', K_CONF, 'max_attempts') or '3')
local m = meta_decode(redis.call('HGET', K_META, id))
local history = '[]'
if m.h and #m.h > 0 then history = cjson.encode(m.h) end
local function reply(state, payload, token, attempts, enq, due, result, done_ms)
    -- false, not nil: a nil would end the reply array there.
    return {state, id, payload or false, token, attempts, m.m or conf_max, m.t or 0, enq or 0,
        due or 0, history, result or false, done_ms or 0}
end

local rec = redis.call('HGET', K_LEASES, id)
if rec then
    local tok, att, lt, enq = string.match(rec, '^(%d+):(%d+):(%d+):(%d+)')
    return reply('leased', redis.call('HGET', K_DATA, id), tonumber(tok), tonumber(att),
        tonumber(enq), tonumber(redis.call('ZSCORE', K_LEASED, id)))
end
local due = redis.call('ZSCORE', K_DELAYED, id)
if due then
    return reply('delayed', redis.call('HGET', K_DATA, id), 0, m.a or 0, m.q, tonumber(due))
end
if redis.call('ZSCORE', K_DEAD, id) then
    return reply('dead', redis.call('HGET', K_DATA, id), 0, m.a or 0, m.q, 0)
end
local payload = redis.call('HGET', K_DATA, id)
if payload then
    -- Pending: the enqueue time is in its list entry; look near the head only.
    local enq = m.q
    if not enq then
        local prefix = id .. ':'
        for s = 0, 9000, 1000 do
            local part = redis.call('LRANGE', K_PENDING, s, s + 999)
            for _, e in ipairs(part) do
                if string.sub(e, 1, #prefix) == prefix then
                    enq = tonumber(string.sub(e, #prefix + 1))
                    break
                end
            end
            if enq or #part < 1000 then break end
        end
    end
    return reply('pending', payload, 0, m.a or 0, enq, 0)
end
local eid = redis.call('GET', KEYS[13])
if eid then
    local e = redis.call('XRANGE', K_RESULTS, eid, eid)
    local result = false
    if e[1] then
        local f = e[1][2]
        for i = 1, #f, 2 do
            if f[i] == 'r' then result = f[i + 1] end
        end
    end
    return reply('done', false, 0, 0, 0, 0, result, tonumber(string.match(eid, '^(%d+)')))
end
return redis.error_reply("KWQ_NOTFOUND no task '" .. id .. "' in queue '" .. queue_name() ..
    "' (never enqueued, done without a kept result, cancelled or purged)")
