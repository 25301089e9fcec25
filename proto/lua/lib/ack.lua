-- lib/ack.lua (included after lib/common.lua and lib/hold.lua by ack and
-- ack_result, after they set RESULTS): the body of both scripts.
-- ack runs with allow-oom and refuses results: an ack without one frees memory,
-- so it must work on a full Redis. ack_result has no allow-oom: Redis refuses
-- it with OOM at maxmemory, so results never grow past the limit.

local script = RESULTS and 'ack_result' or 'ack'
local ttl = tonumber(ARGV[1])
if not ttl or ttl < 1 or ttl > 9007199254740992 or ttl % 1 ~= 0 or #ARGV < 5 or
    (#ARGV - 1) % 4 ~= 0 then
    return redis.error_reply('KWQ_INVAL ' .. script .. ' needs result_ttl_ms (1..2^53) and ' ..
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
        if not RESULTS then
            return redis.error_reply('KWQ_INVAL ack item ' .. #ids .. ' carries a result: ' ..
                'send it with ack_result, which respects maxmemory')
        end
        if KEYS[rkey] ~= rprefix .. id then
            return redis.error_reply('KWQ_INVAL ack item ' .. #ids .. ' needs KEYS[' .. rkey ..
                '] = ' .. rprefix .. id)
        end
        rkey = rkey + 1
    end
end
local recs, status, gone = check_leases(ids, tokens, true)
if not recs then return status end
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
    -- The cap on kept results (setting max_results, 0: none): whole stream nodes
    -- go, oldest first, so a few more than the cap may stay.
    local cap = tonumber(redis.call('HGET', K_CONF, 'max_results') or '1000000')
    if cap > 0 then
        redis.call('XTRIM', K_RESULTS, 'MAXLEN', '~', cap)
    end
end
if #done > 0 or gone > 0 then wake_if_drained() end
return status
