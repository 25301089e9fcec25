#!lua flags=allow-oom
-- kwq protocol v2: results (docs/PROTOCOL.md "results").
-- Reads kept results (the gather half of scatter/gather).
-- KEYS[1..12]: the queue's fixed keys; KEYS[13]: kwq:{q}:result:<id> for "get".
-- ARGV[1]: operation:
--   "get", id              -> array: entry ID, result bytes
--   "read", cursor, count  -> flat array of 3 per result, in completion order
--                             after cursor ("0": from the oldest kept):
--                             entry ID, task id, result bytes
-- Entry IDs are the results stream's ("<done_ms>-<n>"): the cursor to read after.
-- Waiting for new results is a plain XREAD BLOCK on KEYS[12] by the client.
-- Errors: KWQ_NOTFOUND (get: none kept, or expired), KWQ_INVAL (bad arguments).
-- kwq:include common

local function field(f, name)
    for i = 1, #f, 2 do
        if f[i] == name then return f[i + 1] end
    end
    return ''
end

local op = ARGV[1]
if op == 'get' then
    local eid = redis.call('GET', KEYS[13])
    local e = eid and redis.call('XRANGE', K_RESULTS, eid, eid) or {}
    if not e[1] then
        return redis.error_reply("KWQ_NOTFOUND no result kept for task '" .. tostring(ARGV[2]) ..
            "' in queue '" .. queue_name() .. "' (not done, done without a result, expired, " ..
            'or dropped by max_results)')
    end
    return {eid, field(e[1][2], 'r')}
elseif op == 'read' then
    local cursor, count = ARGV[2], tonumber(ARGV[3])
    -- A cursor is "0" or an entry ID "<ms>-<seq>" (or "<ms>"), as XRANGE reads them:
    -- each part a decimal number up to 2^64 - 1.
    local function part(p)
        return #p < 20 or (#p == 20 and p <= '18446744073709551615')
    end
    local ms, sq = string.match(cursor or '', '^(%d+)%-?(%d*)$')
    local good = ms and part(ms) and part(sq) and
        (sq ~= '' or not string.find(cursor, '-', 1, true))
    if not good or not count or count < 1 or count > 10000 or count % 1 ~= 0 then
        return redis.error_reply('KWQ_INVAL results read needs a cursor (an entry ID or 0) ' ..
            'and a count in 1..10000')
    end
    -- Nothing can follow the largest entry ID, and XRANGE refuses an exclusive start there.
    if ms == '18446744073709551615' and sq == '18446744073709551615' then return {} end
    local start = '-'
    if cursor ~= '0' then start = '(' .. cursor end
    local reply = {}
    for _, e in ipairs(redis.call('XRANGE', K_RESULTS, start, '+', 'COUNT', count)) do
        reply[#reply + 1] = e[1]
        reply[#reply + 1] = field(e[2], 'id')
        reply[#reply + 1] = field(e[2], 'r')
    end
    return reply
end
return redis.error_reply("KWQ_INVAL results needs 'get' or 'read'")
