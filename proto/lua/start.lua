#!lua flags=allow-oom
-- kwq protocol v2: start (docs/PROTOCOL.md "start").
-- The holder starts tasks it leased uncharged (prefetched, lease ARGV[5]):
-- their attempts are charged now, so an expiry from here on uses them up.
-- Starting a lease that is already charged changes nothing.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV: pairs: id, token.
-- Reply: array with one status per pair: "OK", "KWQ_LEASELOST", "KWQ_CANCELLED".
-- Errors: KWQ_INVAL (bad arguments), KWQ_GONE (a lease is missing and so is the
--   queue's ID sequence: the queue vanished from Redis; nothing was changed).
-- kwq:include common
-- kwq:include hold

local ids, tokens = lease_pairs(1)
if not ids then
    return redis.error_reply('KWQ_INVAL start needs id/token pairs')
end
local recs, status, gone = check_leases(ids, tokens, false)
if not recs then return status end
local hargs = {}
for i, id in ipairs(ids) do
    local rec = recs[i]
    if rec and string.sub(rec, -2) == ':u' then
        hargs[#hargs + 1] = id
        hargs[#hargs + 1] = string.sub(rec, 1, -3)
    end
end
chunked('HSET', K_LEASES, hargs, 2000)
if gone > 0 then wake_if_drained() end
return status
