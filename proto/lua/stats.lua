#!lua flags=allow-oom
-- kwq protocol v2: stats (docs/PROTOCOL.md "stats").
-- Reaps inline (up to 100 each), then reads every counter in one atomic step.
-- stats_ro reads the same without reaping (a replica can run it).
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV: none.
-- Reply: flat array of name, value pairs (values are integers): pending leased
--   delayed dead results oldest_pending_ms (-1 none) server_time_ms sealed drained
--   overdue_leases due_delayed reap_lag_ms (what is still overdue after the
--   inline reap), then every field of kwq:{q}:stats (enqueued duplicates done
--   expired failed retries dead_total released cancelled requeued; absent = 0).
--   Clients ignore names they do not know.
-- kwq:include common
-- kwq:include reap
-- kwq:include stats

local conf = redis.call('HMGET', K_CONF, 'sealed', 'max_attempts', 'result_ttl_ms')
local sealed = conf[1] ~= false
local expired = reap(100, tonumber(conf[2] or '3'))
trim_results(conf[3])
local reply, drained = stats_reply(sealed)
if drained and expired > 0 then ensure_wake() end
return reply
