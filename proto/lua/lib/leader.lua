-- lib/leader.lua (included by leader and leader_read): the leader lease's key,
-- the server clock and the lease as both scripts read it (docs/PROTOCOL.md
-- "Leader lease").
local K_LEADER = KEYS[1]

-- Every time comes from the server clock, read once per call: Unix ms.
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)

-- KEYS[1] is kwq:leader:{NAME}, NAME 1 to 64 of A-Z a-z 0-9 - _ . (the
-- hash tag is the name: a lease is one key, in one Cluster slot).
local function leader_key_ok()
    local name = K_LEADER and string.match(K_LEADER, '^kwq:leader:{([%w%-_%.]+)}$')
    return name ~= nil and #name <= 64
end

local function leader_key_error()
    return redis.error_reply('KWQ_INVAL leader key must be kwq:leader:{NAME}, NAME 1 to 64 of '
        .. 'A-Z a-z 0-9 - _ .')
end

-- The lease as stored, a lease past its deadline read as free (holder '',
-- expires 0). exists: the hash was ever written (term is kept for ever).
local function leader_state()
    local h = redis.call('HMGET', K_LEADER, 'holder', 'term', 'expires_ms', 'run_id')
    local s = {holder = h[1] or '', term = tonumber(h[2] or '0') or 0,
        expires = tonumber(h[3] or '0') or 0, run_id = h[4], exists = h[2] ~= false}
    if s.holder == '' or s.expires <= now then
        s.holder = ''
        s.expires = 0
    end
    return s
end

-- The reply of acquire and read: held by the caller, holder, term, expires_ms, server time.
local function leader_reply(held, s)
    return {held and 1 or 0, s.holder, s.term, s.expires, now}
end
