#!lua flags=allow-oom
-- kwq leader lease (docs/PROTOCOL.md "Leader lease"): take, renew or give up
-- a named lease whose term grows with every new holder and never repeats,
-- not even after Redis lost its last writes (the run_id fence of "Rollbacks").
-- KEYS[1]: kwq:leader:{NAME} (hash: holder, term, expires_ms, run_id).
-- ARGV[1]: acquire | release.
--   acquire: ARGV[2] holder, ARGV[3] ttl_ms (100..3600000), ARGV[4] the server
--     run_id the client read at connect ("unknown" when it has none).
--   release: ARGV[2] holder, ARGV[3] term.
-- Reply: acquire: array of 5: 1 when the caller holds the lease now, else 0;
--   holder ("" when free); term; expires_ms (0 when free); server time ms.
--   release: 1 released, 0 the holder did not hold it in that term.
-- Errors: KWQ_INVAL (bad arguments; nothing changed).
-- kwq:include leader
-- kwq:include fence

-- Holder identities: 1 to 127 printable ASCII characters, no spaces.
local function holder_ok(s)
    return s ~= nil and #s >= 1 and #s <= 127 and string.find(s, '^[%w%p]+$') ~= nil
end

-- A decimal integer argument from lo to hi, or nil.
local function int_arg(s, lo, hi)
    if s == nil or #s > 16 or not string.find(s, '^%d+$') then return nil end
    local v = tonumber(s)
    if v < lo or v > hi then return nil end
    return v
end

local function acquire(holder, ttl, run_id)
    local s = leader_state()
    local term, dirty = s.term, false
    if not s.exists then
        -- Terms start from the clock, as fencing tokens do: a lease lost whole
        -- (flushed, rolled back to before its first write) does not count from 1 again.
        term = now * 1000
    elseif s.run_id ~= run_id then
        -- Written under another server: its last terms may be lost. Jump past them.
        term = fence_jump(math.max(term, now * 1000))
        dirty = true
    end
    if s.holder ~= '' and s.holder ~= holder then
        if dirty then
            redis.call('HSET', K_LEADER, 'term', string.format('%.0f', term), 'run_id', run_id)
        end
        s.term = term
        return leader_reply(false, s)
    end
    if s.holder ~= holder then term = term + 1 end
    s.holder, s.term, s.expires = holder, term, now + ttl
    redis.call('HSET', K_LEADER, 'holder', holder, 'term', string.format('%.0f', term),
        'expires_ms', string.format('%.0f', s.expires), 'run_id', run_id)
    return leader_reply(true, s)
end

-- The term is kept, so the next holder gets term + 1; run_id too, so that a
-- release on a new server does not hide the change from the next acquire.
local function release(holder, term)
    local h = redis.call('HMGET', K_LEADER, 'holder', 'term')
    if h[1] ~= holder or tonumber(h[2]) ~= term then return 0 end
    redis.call('HSET', K_LEADER, 'holder', '', 'expires_ms', '0')
    return 1
end

if not leader_key_ok() then return leader_key_error() end
local op = ARGV[1]
if op ~= 'acquire' and op ~= 'release' then
    return redis.error_reply('KWQ_INVAL leader op must be acquire or release')
end
if not holder_ok(ARGV[2]) then
    return redis.error_reply('KWQ_INVAL leader holder must be 1 to 127 printable ASCII '
        .. 'characters without spaces')
end
if op == 'release' then
    local term = int_arg(ARGV[3], 1, 9007199254740991)
    if not term then
        return redis.error_reply('KWQ_INVAL leader term must be an integer from 1 to 2^53-1')
    end
    return release(ARGV[2], term)
end
local ttl = int_arg(ARGV[3], 100, 3600000)
if not ttl then
    return redis.error_reply('KWQ_INVAL leader ttl_ms must be an integer from 100 to 3600000')
end
if not run_id_ok(ARGV[4]) then
    return redis.error_reply('KWQ_INVAL leader run_id must be 1 to 64 letters and digits')
end
return acquire(ARGV[2], ttl, ARGV[4])
