#!lua
-- kwq protocol v2: enqueue (docs/PROTOCOL.md "enqueue").
-- Adds a batch of tasks atomically: all of them, or none on error.
-- KEYS[1..12]: the queue's fixed keys (pending data meta leased leases delayed
--   dead stats conf seq wake results); KEYS[13]: the batch key kwq:{q}:batch:<nonce>
--   when ARGV[2] is not ""; then the idempotency keys kwq:{q}:idem:<key>.
-- ARGV[1]: number of tasks n.
-- ARGV[2]: "" for a lone call, or "<k>:<last>" for chunk k (1-based) of a
--   pipelined batch, last = 1 for its final chunk. Chunk k > 1 runs only when
--   the batch key says chunk k-1 went in; each chunk records itself there (10
--   minutes), the final one deletes it. So a batch goes in as an exact prefix.
-- ARGV[3]: the server run_id the client read at connect (lib/fence.lua).
-- ARGV[4..]: per task two arguments:
--   opts    "" for a default task, else JSON {"d":delay_ms,"m":max_attempts,
--           "t":timeout_ms,"k":index into KEYS of its idempotency key,"kt":idem ttl ms}
--           (whole numbers: d, t, kt 0..2^53, m 0..1000; 0 means the default)
--   payload the task's bytes (binary-safe)
-- Reply: flat array: the ID of the first new task (0 when none is new), then
--   one pair per duplicate: its task index (1-based), the existing ID. New
--   tasks get consecutive IDs in task order, from the first.
-- Errors: KWQ_SEALED (queue sealed), KWQ_FULL (max_tasks would be exceeded),
--   KWQ_INVAL (malformed arguments), KWQ_STATE (an earlier chunk of the batch did
--   not go in). Nothing is added on error.
-- kwq:include common
-- kwq:include fence
local CHUNK = 1000

local n = tonumber(ARGV[1])
local batch, chunk_no, last = false, nil, nil
if ARGV[2] ~= '' then
    batch = KEYS[13] or false
    chunk_no, last = string.match(ARGV[2] or '', '^(%d+):([01])$')
    chunk_no = tonumber(chunk_no)
end
if not n or n < 0 or #ARGV ~= 3 + 2 * n or (ARGV[2] ~= '' and not (batch and chunk_no)) or
    not run_id_ok(ARGV[3]) then
    return redis.error_reply('KWQ_INVAL enqueue needs a count, a batch position, the server ' ..
        'run_id and two arguments per task')
end
local batch_prefix = 'kwq:{' .. queue_name() .. '}:batch:'
if batch and (chunk_no < 1 or string.sub(batch, 1, #batch_prefix) ~= batch_prefix) then
    return redis.error_reply('KWQ_INVAL enqueue needs chunk numbers from 1 and KEYS[13] = ' ..
        batch_prefix .. '<nonce> for a batch')
end
if batch and chunk_no > 1 and redis.call('GET', batch) ~= tostring(chunk_no - 1) then
    return redis.error_reply('KWQ_STATE an earlier part of this enqueue batch did not go in; ' ..
        'nothing of this part was added')
end
local conf = redis.call('HMGET', K_CONF, 'sealed', 'max_tasks', 'payload_max', 'run_id')
if conf[1] then
    return redis.error_reply("KWQ_SEALED queue '" .. queue_name() ..
        "' is sealed; unseal it or use another queue")
end

-- Pass 1: decode and check options, resolve idempotency keys (also within
-- the batch). Nothing is written before every task passed: a script that
-- fails half way is not rolled back.
local MAX_MS = 9007199254740992 -- 2^53: every ms value stays an exact integer
local idem_prefix = 'kwq:{' .. queue_name() .. '}:idem:'
local first_idem = batch and 14 or 13
local function whole(v, lo, hi)
    return v == nil or (type(v) == 'number' and v % 1 == 0 and v >= lo and v <= hi)
end
local opts, dup_of, seen = {}, {}, {}
local fresh = 0
for i = 1, n do
    local raw = ARGV[2 * i + 2]
    local o = nil
    if raw ~= '' then
        local ok, v = pcall(cjson.decode, raw)
        if not ok or type(v) ~= 'table' then
            return redis.error_reply('KWQ_INVAL task ' .. i .. ' has malformed options')
        end
        if not (whole(v.d, 0, MAX_MS) and whole(v.m, 0, 1000) and whole(v.t, 0, MAX_MS) and
            whole(v.kt, 0, MAX_MS) and whole(v.k, first_idem, #KEYS)) then
            return redis.error_reply('KWQ_INVAL task ' .. i .. ' has an option out of range ' ..
                '(d, t, kt: 0..2^53 ms; m: 0..1000; k: an index of an idempotency key in KEYS)')
        end
        if v.k and string.sub(KEYS[v.k], 1, #idem_prefix) ~= idem_prefix then
            return redis.error_reply('KWQ_INVAL task ' .. i .. ' names KEYS[' .. v.k ..
                '], which is not an idempotency key of this queue')
        end
        o = v
    end
    opts[i] = o
    local key = o and o.k and KEYS[o.k]
    if key then
        local existing = redis.call('GET', key)
        if existing then
            dup_of[i] = existing
        elseif seen[key] then
            dup_of[i] = seen[key] -- resolved to an index now, to an ID in pass 2
        else
            seen[key] = i
        end
    end
    if not dup_of[i] then
        fresh = fresh + 1
    end
end

local max_tasks = tonumber(conf[2] or '10000000')
if fresh > 0 and max_tasks > 0 then
    local stored = redis.call('HLEN', K_DATA)
    if stored + fresh > max_tasks then
        return redis.error_reply("KWQ_FULL queue '" .. queue_name() .. "' holds " .. stored ..
            ' tasks and max_tasks is ' .. max_tasks .. '; wait for workers or raise max_tasks')
    end
end

fence(ARGV[3], conf[4], true)
local first = 0
if fresh > 0 then
    first = redis.call('INCRBY', K_SEQ, fresh) - fresh + 1
end

-- Pass 2: assign IDs in task order and build the variadic commands. This loop
-- runs once per task on the hot path: plain tasks take the shortest branch.
local reply = {first}
local ids_of = {} -- IDs of keyed tasks, for duplicates later in the batch
local pend, data, meta, delayed = {}, {}, {}, {}
local np, nd = 0, 0
local sfx = ':' .. now
local next_id = first
local dups = 0
local biggest = 0
for i = 1, n do
    local d = dup_of[i]
    if d then
        if type(d) == 'number' then d = ids_of[d] end
        reply[#reply + 1] = i
        reply[#reply + 1] = d
        dups = dups + 1
    else
        local id = string.format('%.0f', next_id)
        next_id = next_id + 1
        local payload = ARGV[2 * i + 3]
        data[nd + 1] = id
        data[nd + 2] = payload
        nd = nd + 2
        if #payload > biggest then biggest = #payload end
        local o = opts[i]
        if not o then
            np = np + 1
            pend[np] = id .. sfx
        else
            local m = {}
            local delay = tonumber(o.d) or 0
            if o.m and o.m > 0 then m.m = o.m end
            if o.t and o.t > 0 then m.t = o.t end
            if o.k then
                local kt = o.kt or 0
                if kt == 0 then kt = 86400000 end
                redis.call('SET', KEYS[o.k], id, 'PX', kt)
                ids_of[i] = id
            end
            if delay > 0 then
                m.q = now
                delayed[#delayed + 1] = now + delay
                delayed[#delayed + 1] = id
            else
                np = np + 1
                pend[np] = id .. sfx
            end
            if next(m) then
                meta[#meta + 1] = id
                meta[#meta + 1] = cjson.encode(m)
            end
        end
    end
end

chunked('RPUSH', K_PENDING, pend, CHUNK)
chunked('HSET', K_DATA, data, 2 * CHUNK)
chunked('HSET', K_META, meta, 2 * CHUNK)
chunked('ZADD', K_DELAYED, delayed, 2 * CHUNK)
if fresh > 0 then
    redis.call('HINCRBY', K_STATS, 'enqueued', fresh)
end
-- The largest payload stored, for lease to size its reads (see lease.lua).
if biggest > (tonumber(conf[3]) or 0) then
    redis.call('HSET', K_CONF, 'payload_max', biggest)
end
if dups > 0 then
    redis.call('HINCRBY', K_STATS, 'duplicates', dups)
end
if #pend > 0 then
    ensure_wake()
end
if batch then
    if last == '1' then
        redis.call('DEL', batch)
    else
        redis.call('SET', batch, chunk_no, 'PX', 600000)
    end
end
return reply
