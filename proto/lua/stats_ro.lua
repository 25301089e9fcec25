#!lua flags=no-writes
-- kwq protocol v2: stats_ro (docs/PROTOCOL.md "stats_ro").
-- stats without reaping or trimming: writes nothing, so Redis 7 runs it on a
-- read-only replica too (kwq-broker's /metrics). An expired lease still counts
-- as leased and a due delayed task as delayed; overdue_leases, due_delayed and
-- reap_lag_ms say how many and how late.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV: none.
-- Reply: as stats.
-- kwq:include common
-- kwq:include stats

local reply = stats_reply(redis.call('HEXISTS', K_CONF, 'sealed') == 1)
return reply
