#!lua flags=allow-oom
-- kwq protocol v2: reap (docs/PROTOCOL.md "Reaping").
-- Returns expired leases to the head of pending (or dead-letters them when
-- that was their last attempt; deletes them when cancelled) and moves due
-- delayed tasks to the tail of pending. lease and stats do the same inline;
-- this script lets a broker or an operator do it on its own.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV[1]: max expired leases and max due delayed tasks to handle (1..1000).
-- Reply: array: expired leases returned to pending, expired leases dead-lettered
--   (their last attempt), due delayed tasks promoted.
-- Errors: KWQ_INVAL (bad max).
-- kwq:include common
-- kwq:include reap

local lim = tonumber(ARGV[1])
if not lim or lim < 1 or lim > 1000 then
    return redis.error_reply('KWQ_INVAL reap needs max in 1..1000')
end
local conf = redis.call('HMGET', K_CONF, 'sealed', 'max_attempts')
local expired, dead, promoted = reap(lim, tonumber(conf[2] or '3'))
if expired > 0 and is_drained(conf[1] ~= false) then
    ensure_wake()
end
trim_results(redis.call('HGET', K_CONF, 'result_ttl_ms'))
return {expired - dead, dead, promoted}
