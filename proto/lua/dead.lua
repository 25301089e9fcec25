#!lua flags=allow-oom
-- kwq protocol v2: dead (docs/PROTOCOL.md "dead").
-- Requeue tasks from the dead-letter set, or purge them (dead_list lists it).
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV[1]: operation:
--   "requeue", id...  | "requeue", "*all"
--       back to the tail of pending, attempts reset to 0 (history kept)
--       -> number requeued; "*all" handles at most 1000 per call (call again
--          until it returns 0); IDs that are not dead are skipped
--   "purge", id...    | "purge", "*all"
--       deleted for good -> number deleted; "*all": at most 1000 per call
-- Errors: KWQ_INVAL (unknown operation or bad arguments).
-- kwq:include common

local op = ARGV[1]

-- The IDs named by ARGV[2..], or up to 1000 of the oldest for "*all", that are dead.
local function dead_ids()
    local ids = {}
    if ARGV[2] == '*all' then
        return redis.call('ZRANGE', K_DEAD, 0, 999)
    end
    for i = 2, #ARGV do
        if redis.call('ZSCORE', K_DEAD, ARGV[i]) then
            ids[#ids + 1] = ARGV[i]
        end
    end
    return ids
end

if op == 'requeue' then
    if #ARGV < 2 then return redis.error_reply('KWQ_INVAL dead requeue needs IDs or *all') end
    local ids = dead_ids()
    if #ids == 0 then return 0 end
    local metas = redis.call('HMGET', K_META, unpack(ids))
    local datas = redis.call('HMGET', K_DATA, unpack(ids))
    local elems, lost = {}, {}
    for i, id in ipairs(ids) do
        if datas[i] then
            local m = meta_decode(metas[i])
            local q = m.q or now
            m.a, m.e, m.c, m.q = nil, nil, nil, q
            push_history(m, {o = 'requeued', at = now})
            redis.call('HSET', K_META, id, cjson.encode(m))
            elems[#elems + 1] = id .. ':' .. q
        else
            lost[#lost + 1] = id
        end
    end
    redis.call('ZREM', K_DEAD, unpack(ids))
    delete_tasks(lost)
    if #elems > 0 then
        redis.call('RPUSH', K_PENDING, unpack(elems))
        redis.call('HINCRBY', K_STATS, 'requeued', #elems)
        ensure_wake()
    end
    return #elems
elseif op == 'purge' then
    if #ARGV < 2 then return redis.error_reply('KWQ_INVAL dead purge needs IDs or *all') end
    local ids = dead_ids()
    if #ids == 0 then return 0 end
    redis.call('ZREM', K_DEAD, unpack(ids))
    delete_tasks(ids)
    return #ids
end
return redis.error_reply("KWQ_INVAL dead needs 'requeue' or 'purge'")
