#!lua flags=allow-oom
-- kwq protocol v2: release (docs/PROTOCOL.md "release").
-- Gives leased tasks back unstarted: each returns to the head of pending at
-- once, in the order given, and its attempt is not charged.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV: pairs: id, token.
-- Reply: array with one status per pair: "OK", "KWQ_LEASELOST", "KWQ_CANCELLED".
-- Errors: KWQ_INVAL (bad arguments), KWQ_GONE (a lease is missing and so is the
--   queue's ID sequence: the queue vanished from Redis; nothing was changed).
-- kwq:include common
-- kwq:include hold

local ids, tokens = lease_pairs(1)
if not ids then
    return redis.error_reply('KWQ_INVAL release needs id/token pairs')
end
local recs, status, gone = check_leases(ids, tokens, true)
if not recs then return status end
local metas = redis.call('HMGET', K_META, unpack(ids))
local back, done = {}, {}
for i = #ids, 1, -1 do
    local r = recs[i] and lease_fields(recs[i])
    if r then
        local id = ids[i]
        local m = meta_decode(metas[i])
        -- Keep the enqueue time in meta (as reaping does), so that task can report it
        -- wherever its entry ends up in a long pending list.
        m.q = r[4]
        push_history(m, {n = r[2], o = 'released', at = now})
        redis.call('HSET', K_META, id, cjson.encode(m))
        back[#back + 1] = id .. ':' .. r[4]
        done[#done + 1] = id
    end
end
if #done > 0 then
    redis.call('ZREM', K_LEASED, unpack(done))
    redis.call('HDEL', K_LEASES, unpack(done))
    redis.call('LPUSH', K_PENDING, unpack(back))
    redis.call('HINCRBY', K_STATS, 'released', #done)
    ensure_wake()
elseif gone > 0 then
    wake_if_drained()
end
return status
