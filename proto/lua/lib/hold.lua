-- lib/hold.lua (included after lib/common.lua by renew, ack, fail, release, start):
-- the fencing check every lease holder's operation starts with.

-- The (id, token) pairs of ARGV from index first to the end, as two lists;
-- nil when ARGV does not hold one whole pair or more there.
local function lease_pairs(first)
    if #ARGV < first + 1 or (#ARGV - first + 1) % 2 ~= 0 then
        return nil
    end
    local ids, tokens = {}, {}
    for i = first, #ARGV, 2 do
        ids[#ids + 1] = ARGV[i]
        tokens[#tokens + 1] = ARGV[i + 1]
    end
    return ids, tokens
end

-- Check each (id, token) against the lease records. Returns the lease
-- records (text, nil unless OK; see lease_fields), the
-- per-item status ('OK', 'KWQ_LEASELOST' or 'KWQ_CANCELLED') and how many
-- cancelled tasks were deleted: the holder of a cancelled task is the one who
-- learns it, and the task goes then.
-- consume: the operation ends the lease (ack, fail, release). A task named
-- again later in the same call then answers as a second call would:
-- KWQ_LEASELOST, so that no task is acked, failed or released twice.
-- When a lease is missing and so is the queue's ID sequence (kept even by
-- purge), the queue itself is gone: returns nil and a KWQ_GONE error reply
-- for the script to return, before anything is written.
local function check_leases(ids, tokens, consume)
    local recs = redis.call('HMGET', K_LEASES, unpack(ids))
    for i = 1, #ids do
        if not recs[i] then
            if redis.call('EXISTS', K_SEQ) == 0 then
                return nil, redis.error_reply("KWQ_GONE queue '" .. queue_name() ..
                    "' is gone from Redis (restarted empty, flushed or rolled back); " ..
                    'its tasks must be enqueued again')
            end
            break
        end
    end
    local out, status, gone, taken = {}, {}, {}, {}
    for i, id in ipairs(ids) do
        local rec, tok = recs[i], tokens[i]
        -- The record starts with "<token>:": compare that prefix before parsing anything.
        if not rec or taken[id] or not string.find(tok, '^%d+$')
            or string.sub(rec, #tok + 1, #tok + 1) ~= ':'
            or string.sub(rec, 1, #tok) ~= tok then
            status[i] = 'KWQ_LEASELOST'
        elseif string.sub(rec, -2) == ':c' then
            status[i] = 'KWQ_CANCELLED'
            gone[#gone + 1] = id
            taken[id] = true -- deleted now
        else
            status[i] = 'OK'
            out[i] = rec
            taken[id] = consume
        end
    end
    delete_tasks(gone)
    return out, status, #gone
end

-- The fields of a lease record: token, attempt, leased_ms, enqueued_ms (numbers).
local function lease_fields(rec)
    local tok, att, lt, enq = string.match(rec, '^(%d+):(%d+):(%d+):(%d+)')
    return {tonumber(tok), tonumber(att), tonumber(lt), tonumber(enq)}
end
