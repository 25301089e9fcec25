#!lua flags=allow-oom
-- kwq protocol v2: purge (docs/PROTOCOL.md "purge").
-- Deletes every task, counter, result and setting of a queue. Kept: the ID
-- sequence (kwq:{q}:seq), the fencing-token counter (stats leases), the
-- restart count (stats restarts) and the server run_id last seen (conf
-- run_id), so IDs and tokens are never reused: holders of purged leases get
-- KWQ_LEASELOST. Per-task keys (kwq:{q}:result:<id>, kwq:{q}:idem:<key>) are
-- left to expire on their TTL.
-- UNLINK, not DEL: Redis frees a big queue's memory in its background thread,
-- so the call costs the same on a queue of ten tasks or ten million.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV: none.
-- Reply: number of tasks deleted (pending, leased, delayed and dead).
-- kwq:include common

local n = redis.call('HLEN', K_DATA)
local run_id = redis.call('HGET', K_CONF, 'run_id')
local kept = redis.call('HMGET', K_STATS, 'leases', 'restarts')
redis.call('UNLINK', K_PENDING, K_DATA, K_META, K_LEASED, K_LEASES, K_DELAYED, K_DEAD, K_STATS,
    K_CONF, K_WAKE, K_RESULTS)
if run_id then redis.call('HSET', K_CONF, 'run_id', run_id) end
if kept[1] then redis.call('HSET', K_STATS, 'leases', kept[1]) end
if kept[2] then redis.call('HSET', K_STATS, 'restarts', kept[2]) end
return n
