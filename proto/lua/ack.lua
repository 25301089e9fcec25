#!lua flags=allow-oom
-- kwq protocol v2: ack (docs/PROTOCOL.md "ack").
-- Marks leased tasks done, keeping nothing of them. Runs on a Redis at its
-- maxmemory limit (allow-oom): it frees memory. Acks that keep a result go
-- through ack_result, which Redis refuses at the limit.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV[1]: result_ttl_ms (1..2^53, unused here: the same arguments as
--   ack_result); then quads: id, token, has_result (must be 0), "" (no result).
-- Reply: array with one status per item: "OK", "KWQ_LEASELOST", "KWQ_CANCELLED".
-- Errors: KWQ_INVAL (bad arguments, an item with a result), KWQ_GONE (a lease
--   is missing and so is the queue's ID sequence: the queue vanished from
--   Redis; nothing was changed).
-- kwq:include common
-- kwq:include hold
local RESULTS = false
-- kwq:include ack
