#!lua flags=allow-oom
-- kwq protocol v2: renew (docs/PROTOCOL.md "renew").
-- Extends leases to now + lease_ms, for the current holders only.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV[1]: lease_ms (>= 1); then pairs: id, token.
-- Reply: array with one status per pair: "OK", "KWQ_LEASELOST" (token not
--   current: expired and re-leased, or gone) or "KWQ_CANCELLED" (the task was
--   cancelled and is now deleted: stop working on it).
-- Errors: KWQ_INVAL (bad arguments), KWQ_GONE (a lease is missing and so is the
--   queue's ID sequence: the queue vanished from Redis; nothing was changed).
-- kwq:include common
-- kwq:include hold

local lease_ms = tonumber(ARGV[1])
local ids, tokens = lease_pairs(2)
if not lease_ms or lease_ms < 1 or not ids then
    return redis.error_reply('KWQ_INVAL renew needs lease_ms and id/token pairs')
end
local recs, status, gone = check_leases(ids, tokens, false)
if not recs then return status end
local zargs = {}
for i, id in ipairs(ids) do
    if recs[i] then
        zargs[#zargs + 1] = now + lease_ms
        zargs[#zargs + 1] = id
    end
end
for s = 1, #zargs, 2000 do
    redis.call('ZADD', K_LEASED, 'XX', unpack(zargs, s, math.min(s + 1999, #zargs)))
end
if gone > 0 then wake_if_drained() end
return status
