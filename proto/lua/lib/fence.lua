-- lib/fence.lua (included after lib/common.lua by enqueue and lease): task IDs
-- and fencing tokens stay unique when Redis loses its last writes (AOF everysec,
-- a failover to an asynchronous replica), docs/PROTOCOL.md "Rollbacks". The
-- leader lease (leader.lua) uses fence_jump and run_id_ok for its term.
-- The client passes the server run_id it read at connect; the queue keeps the
-- last one it saw (conf run_id). Another run_id means another server process:
-- writes may have been lost, so the ID sequence and the token counter jump by
-- at least FENCE_GAP before anything is issued, past any value the lost writes
-- could have handed out.
local FENCE_GAP = 1000000000

-- The next-but-one multiple of FENCE_GAP above v: a gap of 1e9 to 2e9, and IDs
-- that show a restart at a glance (1000000001, 3000000001...).
local function fence_jump(v)
    return (math.floor(v / FENCE_GAP) + 2) * FENCE_GAP
end

-- Check the caller's run_id against seen (conf run_id, false when unset) and
-- jump the counters when the queue was in use under another server. issuing:
-- the caller is about to hand out IDs (enqueue); a lease on a queue never used
-- writes nothing, so idle workers on a mistyped name leave no keys behind.
local function fence(run_id, seen, issuing)
    if seen == run_id then return end
    local used = seen or redis.call('EXISTS', K_SEQ) == 1
    if used then
        local seq = tonumber(redis.call('GET', K_SEQ) or '0') or 0
        redis.call('SET', K_SEQ, string.format('%.0f', fence_jump(seq)))
        local tok = tonumber(redis.call('HGET', K_STATS, 'leases') or '0') or 0
        if tok < now * 1000 then tok = now * 1000 end
        redis.call('HSET', K_STATS, 'leases', string.format('%.0f', fence_jump(tok)))
        redis.call('HINCRBY', K_STATS, 'restarts', 1)
    end
    if used or issuing then
        redis.call('HSET', K_CONF, 'run_id', run_id)
    end
end

-- A run_id argument: 1 to 64 letters and digits (Redis sends 40 hex digits).
local function run_id_ok(s)
    return s ~= nil and #s >= 1 and #s <= 64 and string.find(s, '^%w+$') ~= nil
end
