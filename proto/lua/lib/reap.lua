-- lib/reap.lua (included after lib/common.lua by lease, stats and reap):
-- expired leases and due delayed tasks (docs/PROTOCOL.md "Reaping").
-- An expired lease has had its attempt charged at lease time: a cancelled
-- task is deleted; one on its last attempt is dead-lettered; any other goes
-- back to the head of pending. An uncharged lease (":u", prefetched and never
-- started) goes back to the head of pending with its attempt unused. Due
-- delayed tasks join the tail of pending.
-- Reap up to lim expired leases and lim due delayed tasks at time now.
-- Returns expired, dead (of the expired), promoted.
local function reap(lim, max_default)
    local expired, dead, promoted = 0, 0, 0
    local gone = {}
    local ids = redis.call('ZRANGEBYSCORE', K_LEASED, '-inf', now, 'LIMIT', 0, lim)
    if #ids > 0 then
        local recs = redis.call('HMGET', K_LEASES, unpack(ids))
        local metas = redis.call('HMGET', K_META, unpack(ids))
        local back = {}
        for i, id in ipairs(ids) do
            local att, enq, flag = string.match(recs[i] or '', '^%d+:(%d+):%d+:(%d+)(.*)$')
            if att and (flag == ':c' or flag == ':u:c') then
                gone[#gone + 1] = id
            elseif att then
                att = tonumber(att)
                local m = meta_decode(metas[i])
                m.q = tonumber(enq)
                expired = expired + 1
                if flag == ':u' then
                    push_history(m, {n = att, o = 'expired', at = now, u = 1})
                    back[#back + 1] = id .. ':' .. enq
                elseif att >= (m.m or max_default) then
                    m.a = att
                    m.e = 'lease expired on the last attempt'
                    m.c = -1
                    push_history(m, {n = att, o = 'expired', at = now, dead = 1})
                    redis.call('ZADD', K_DEAD, now, id)
                    dead = dead + 1
                else
                    m.a = att
                    push_history(m, {n = att, o = 'expired', at = now})
                    back[#back + 1] = id .. ':' .. enq
                end
                redis.call('HSET', K_META, id, cjson.encode(m))
            end
        end
        redis.call('ZREM', K_LEASED, unpack(ids))
        redis.call('HDEL', K_LEASES, unpack(ids))
        delete_tasks(gone)
        if #back > 0 then
            redis.call('LPUSH', K_PENDING, unpack(back))
        end
        if expired > 0 then redis.call('HINCRBY', K_STATS, 'expired', expired) end
        if dead > 0 then redis.call('HINCRBY', K_STATS, 'dead_total', dead) end
    end
    local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, lim)
    if #due > 0 then
        local metas = redis.call('HMGET', K_META, unpack(due))
        local elems = {}
        for i, id in ipairs(due) do
            local m = meta_decode(metas[i])
            elems[i] = id .. ':' .. (m.q or now)
        end
        redis.call('RPUSH', K_PENDING, unpack(elems))
        redis.call('ZREM', K_DELAYED, unpack(due))
        promoted = #due
    end
    if expired - dead > 0 or promoted > 0 then
        ensure_wake()
    end
    return expired, dead, promoted
end
