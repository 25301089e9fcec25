#!lua flags=allow-oom
-- kwq protocol v2: cancel (docs/PROTOCOL.md "cancel").
-- Cancels a pending, delayed or leased task. Pending and delayed tasks go at
-- once; a leased one is flagged, and goes when its holder next renews, acks,
-- fails or releases (each then gets KWQ_CANCELLED) or its lease expires.
-- A cancelled pending task leaves its list entry behind until a lease pops
-- it (O(1) instead of a list scan); stats "ghosts" counts such entries.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV[1]: task ID.
-- Reply: the state the task was in: "pending", "delayed" or "leased".
-- Errors: KWQ_NOTFOUND (no such task, or already cancelled), KWQ_STATE (dead:
--   purge it instead).
-- kwq:include common

local id = ARGV[1]
local state
local rec = redis.call('HGET', K_LEASES, id)
if rec then
    if string.sub(rec, -2) == ':c' then
        return redis.error_reply("KWQ_NOTFOUND task '" .. id .. "' is already cancelled")
    end
    redis.call('HSET', K_LEASES, id, rec .. ':c')
    state = 'leased'
elseif redis.call('ZREM', K_DELAYED, id) == 1 then
    redis.call('HDEL', K_DATA, id)
    redis.call('HDEL', K_META, id)
    state = 'delayed'
elseif redis.call('ZSCORE', K_DEAD, id) then
    return redis.error_reply("KWQ_STATE task '" .. id .. "' is dead: purge it from the " ..
        'dead-letter set instead')
elseif redis.call('HDEL', K_DATA, id) == 1 then
    redis.call('HDEL', K_META, id)
    redis.call('HINCRBY', K_STATS, 'ghosts', 1)
    state = 'pending'
else
    return redis.error_reply("KWQ_NOTFOUND no task '" .. id .. "' in queue '" .. queue_name() ..
        "' to cancel")
end
redis.call('HINCRBY', K_STATS, 'cancelled', 1)
wake_if_drained()
return state
