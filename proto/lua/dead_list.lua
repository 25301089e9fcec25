#!lua flags=no-writes
-- kwq protocol v2: dead_list (docs/PROTOCOL.md "dead_list").
-- Lists the dead-letter set, oldest death first. Writes nothing, so it runs
-- on a read-only replica too (kwq-broker's dashboard).
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV[1]: offset (>= 0); ARGV[2]: count (1..10000).
-- Reply: flat array of 5 per task: id, died_ms, attempts, last_code (-1 none),
--   last_error ("" none).
-- Errors: KWQ_INVAL (bad offset or count).
-- kwq:include common

local offset, count = tonumber(ARGV[1]), tonumber(ARGV[2])
if not offset or offset < 0 or not count or count < 1 or count > 10000 then
    return redis.error_reply('KWQ_INVAL dead_list needs an offset >= 0 and a count in 1..10000')
end
local rows = redis.call('ZRANGE', K_DEAD, offset, offset + count - 1, 'WITHSCORES')
local reply = {}
if #rows == 0 then return reply end
local ids = {}
for i = 1, #rows, 2 do ids[#ids + 1] = rows[i] end
local metas = redis.call('HMGET', K_META, unpack(ids))
for i, id in ipairs(ids) do
    local m = meta_decode(metas[i])
    local r = #reply
    reply[r + 1] = id
    reply[r + 2] = tonumber(rows[2 * i])
    reply[r + 3] = m.a or 0
    reply[r + 4] = m.c or -1
    reply[r + 5] = m.e or ''
end
return reply
