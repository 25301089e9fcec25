#!lua
-- kwq protocol v2: ack_result (docs/PROTOCOL.md "ack").
-- Marks leased tasks done; the items with a result keep it. No allow-oom: at
-- maxmemory Redis refuses the call (OOM) before it runs, so kept results never
-- push Redis past its limit; the holder keeps the ack and tries again later.
-- KEYS[1..12]: the queue's fixed keys; KEYS[13..]: kwq:{q}:result:<id>, one per
--   item that carries a result, in item order.
-- ARGV[1]: result_ttl_ms (1..2^53); then quads: id, token, has_result (0/1), result bytes.
-- Reply: array with one status per item: "OK", "KWQ_LEASELOST", "KWQ_CANCELLED".
-- Results go to the stream kwq:{q}:results as entry {id, r} (trimmed to the ttl
--   with MINID ~, and to about max_results entries with MAXLEN ~), and
--   kwq:{q}:result:<id> holds the entry ID for result_ttl_ms.
-- Errors: KWQ_INVAL (bad arguments), KWQ_GONE (as ack); Redis's OOM at maxmemory.
-- kwq:include common
-- kwq:include hold
local RESULTS = true
-- kwq:include ack
