#!lua flags=allow-oom
-- kwq protocol v2: stats (docs/PROTOCOL.md "stats").
-- Reaps inline (up to 100 each), then reads every counter in one atomic step.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV: none.
-- Reply: flat array of name, value pairs (values are integers): pending leased
--   delayed dead results oldest_pending_ms (-1 none) server_time_ms sealed drained,
--   then every field of kwq:{q}:stats (enqueued duplicates done expired failed
--   retries dead_total released cancelled requeued; absent = 0). Clients ignore
--   names they do not know.
-- kwq:include common
-- kwq:include reap

local conf = redis.call('HMGET', K_CONF, 'sealed', 'max_attempts', 'result_ttl_ms')
local sealed = conf[1] ~= false
local expired = reap(100, tonumber(conf[2] or '3'))
trim_results(conf[3])
local pending = pending_count()
local leased = redis.call('ZCARD', K_LEASED)
local delayed = redis.call('ZCARD', K_DELAYED)
local drained = sealed and pending == 0 and leased == 0 and delayed == 0
if drained and expired > 0 then ensure_wake() end
local oldest = -1
if pending > 0 then
    -- The head may be a cancelled entry (its data is gone): look a little further.
    local head = redis.call('LRANGE', K_PENDING, 0, 15)
    for _, e in ipairs(head) do
        local id, enq = string.match(e, '^([^:]+):(%d+)$')
        if id and redis.call('HEXISTS', K_DATA, id) == 1 then
            oldest = now - tonumber(enq)
            if oldest < 0 then oldest = 0 end
            break
        end
    end
end
local reply = {
    'pending', pending, 'leased', leased, 'delayed', delayed,
    'dead', redis.call('ZCARD', K_DEAD), 'results', redis.call('XLEN', K_RESULTS),
    'oldest_pending_ms', oldest, 'server_time_ms', now,
    'sealed', sealed and 1 or 0, 'drained', drained and 1 or 0,
}
local st = redis.call('HGETALL', K_STATS)
for i = 1, #st, 2 do
    reply[#reply + 1] = st[i]
    reply[#reply + 1] = tonumber(st[i + 1]) or 0
end
return reply
