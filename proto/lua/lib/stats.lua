-- lib/stats.lua (included after lib/common.lua by stats and stats_ro): the
-- reply of stats, read without writing anything (docs/PROTOCOL.md "stats"),
-- so that stats_ro can run it with the no-writes flag on a replica.

-- Age of the oldest pending task, ms; -1 when none. The head may be a
-- cancelled entry (its data is gone): look a little further.
local function oldest_pending_ms(pending)
    if pending == 0 then return -1 end
    local head = redis.call('LRANGE', K_PENDING, 0, 15)
    for _, e in ipairs(head) do
        local id, enq = string.match(e, '^([^:]+):(%d+)$')
        if id and redis.call('HEXISTS', K_DATA, id) == 1 then
            local age = now - tonumber(enq)
            if age < 0 then age = 0 end
            return age
        end
    end
    return -1
end

-- How long ago the earliest member of a sorted set by time fell due; 0 when none is.
local function due_for(key)
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local at = tonumber(first[2])
    if at and at <= now then return now - at end
    return 0
end

-- The flat name/value reply, and whether the queue is drained. Leases past
-- their deadline count as leased, due delayed tasks as delayed, until reaped:
-- overdue_leases, due_delayed and reap_lag_ms say how many and how late.
local function stats_reply(sealed)
    local pending = pending_count()
    local leased = redis.call('ZCARD', K_LEASED)
    local delayed = redis.call('ZCARD', K_DELAYED)
    local drained = sealed and pending == 0 and leased == 0 and delayed == 0
    local lag = math.max(due_for(K_LEASED), due_for(K_DELAYED))
    local reply = {
        'pending', pending, 'leased', leased, 'delayed', delayed,
        'dead', redis.call('ZCARD', K_DEAD), 'results', redis.call('XLEN', K_RESULTS),
        'oldest_pending_ms', oldest_pending_ms(pending), 'server_time_ms', now,
        'sealed', sealed and 1 or 0, 'drained', drained and 1 or 0,
        'overdue_leases', redis.call('ZCOUNT', K_LEASED, '-inf', now),
        'due_delayed', redis.call('ZCOUNT', K_DELAYED, '-inf', now),
        'reap_lag_ms', lag,
    }
    local st = redis.call('HGETALL', K_STATS)
    for i = 1, #st, 2 do
        reply[#reply + 1] = st[i]
        reply[#reply + 1] = tonumber(st[i + 1]) or 0
    end
    return reply, drained
end
