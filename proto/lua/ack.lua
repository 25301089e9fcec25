#!lua flags=allow-oom
-- kwq protocol v1: ack (docs/PROTOCOL.md "ack").
-- Marks leased tasks done: nothing of them remains, except a result when one is given.
-- KEYS[1..12]: the queue's fixed keys; KEYS[13..]: kwq:{q}:result:<id>, one per
--   item that carries a result, in item order.
-- ARGV[1]: result_ttl_ms (1..2^53); then quads: id, token, has_result (0/1), result bytes.
-- Reply: array with one status per item: "OK", "KWQ_LEASELOST", "KWQ_CANCELLED".
-- Results go to the stream kwq:{q}:results as entry {id, r} (trimmed to the ttl
--   with MINID ~) and kwq:{q}:result:<id> holds the entry ID for result_ttl_ms.
-- Errors: KWQ_INVAL (bad arguments).
-- kwq:include common
-- kwq:include hold

local ttl = tonumber(ARGV[1])
if not ttl or ttl < 1 or ttl > 9007199254740992 or ttl % 1 ~= 0 or #ARGV < 5 or
    (#ARGV - 1) % 4 ~= 0 then
    return redis.error_reply('KWQ_INVAL ack needs result_ttl_ms (1..2^53) and ' ..
        'id/token/has_result/result items')
end
local ids, tokens, has = {}, {}, {}
local rprefix = 'kwq:{' .. queue_name() .. '}:result:'
local rkey = 13
for i = 2, #ARGV, 4 do
    local id = ARGV[i]
    ids[#ids + 1] = id
    tokens[#tokens + 1] = ARGV[i + 1]
    has[#has + 1] = ARGV[i + 2] == '1'
    -- A result goes to this task's own result key, in this queue: checked
    -- before anything is written.
    if ARGV[i + 2] == '1' then
        if KEYS[rkey] ~= rprefix .. id then
            return redis.error_reply('KWQ_INVAL ack item ' .. #ids .. ' needs KEYS[' .. rkey ..
                '] = ' .. rprefix .. id)
        end
        rkey = rkey + 1
    end
end
local recs, status, gone = check_leases(ids, tokens, true)
local done = {}
rkey = 13
local with_result = false
for i, id in ipairs(ids) do
    if recs[i] then
        done[#done + 1] = id
        if has[i] then
            local eid = redis.call('XADD', K_RESULTS, 'MINID', '~', results_minid(ttl), '*',
                'id', id, 'r', ARGV[2 + 4 * (i - 1) + 3])
            redis.call('SET', KEYS[rkey], eid, 'PX', ttl)
            with_result = true
        end
    end
    if has[i] then rkey = rkey + 1 end
end
delete_tasks(done)
if #done > 0 then
    redis.call('HINCRBY', K_STATS, 'done', #done)
end
if with_result then
    redis.call('HSET', K_CONF, 'result_ttl_ms', ttl)
end
if #done > 0 or gone > 0 then wake_if_drained() end
return status
