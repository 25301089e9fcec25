#!lua flags=allow-oom
-- kwq protocol v2: seal (docs/PROTOCOL.md "seal").
-- Seals or unseals a queue. A sealed queue refuses enqueue with KWQ_SEALED;
-- sealed and holding nothing (pending, leased, delayed) is "drained", the
-- signal for workers to exit. Sealing an empty queue wakes every waiter.
-- Any op also gives the wake token back while tasks are pending, so that a
-- client that took the token and stops without leasing passes it on.
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV[1]: "seal", "unseal" or "drained" (changes nothing but the wake token).
-- Reply: array: sealed (0/1), drained (0/1), after the operation.
-- Errors: KWQ_INVAL (unknown operation).
-- kwq:include common

local op = ARGV[1]
if op == 'seal' then
    redis.call('HSET', K_CONF, 'sealed', '1')
elseif op == 'unseal' then
    redis.call('HDEL', K_CONF, 'sealed')
elseif op ~= 'drained' then
    return redis.error_reply("KWQ_INVAL seal needs 'seal', 'unseal' or 'drained'")
end
local sealed = redis.call('HEXISTS', K_CONF, 'sealed') == 1
local drained = is_drained(sealed)
if drained then
    ensure_wake() -- every waiter wakes in turn, sees drained, and stops
elseif pending_count() > 0 then
    ensure_wake() -- a waiter wakes and leases
end
return {sealed and 1 or 0, drained and 1 or 0}
