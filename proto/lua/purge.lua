#!lua flags=allow-oom
-- kwq protocol v1: purge (docs/PROTOCOL.md "purge").
-- Deletes every task, counter, result and setting of a queue. The ID
-- sequence (kwq:{q}:seq) stays, so IDs and fencing tokens are never reused:
-- holders of purged leases get KWQ_LEASELOST. Per-task keys
-- (kwq:{q}:result:<id>, kwq:{q}:idem:<key>) are left to expire on their TTL.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV: none.
-- Reply: number of tasks deleted (pending, leased, delayed and dead).
-- kwq:include common

local n = redis.call('HLEN', K_DATA)
redis.call('DEL', K_PENDING, K_DATA, K_META, K_LEASED, K_LEASES, K_DELAYED, K_DEAD, K_STATS,
    K_CONF, K_WAKE, K_RESULTS)
return n
