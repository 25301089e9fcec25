#!lua flags=allow-oom
-- kwq protocol v2: conf (docs/PROTOCOL.md "Settings").
-- Reads or changes a queue setting. Settings and their ranges:
--   max_attempts     1..1000              default 3
--   backoff_base_ms  0..86400000          default 1000
--   backoff_max_ms   0..604800000         default 3600000
--   max_tasks        0..1000000000000     default 10000000 (0: no limit)
--   max_results      0..1000000000        default 1000000 (results kept, about; 0: no cap)
-- KEYS[1..12]: the queue's fixed keys.
-- ARGV: "get", name  |  "set", name, value (a decimal integer).
-- Reply: the value (integer): the current one for get (the default when
--   unset), the new one for set.
-- Errors: KWQ_INVAL (unknown setting, value out of range, bad operation).
-- kwq:include common

local settings = {
    max_attempts = {1, 1000, 3},
    backoff_base_ms = {0, 86400000, 1000},
    backoff_max_ms = {0, 604800000, 3600000},
    max_tasks = {0, 1000000000000, 10000000},
    max_results = {0, 1000000000, 1000000},
}
local op, name = ARGV[1], ARGV[2]
local s = name and settings[name]
if not s then
    return redis.error_reply("KWQ_INVAL unknown setting '" .. tostring(name) .. "': use " ..
        'max_attempts, backoff_base_ms, backoff_max_ms, max_tasks or max_results')
end
if op == 'get' then
    return tonumber(redis.call('HGET', K_CONF, name) or s[3])
elseif op == 'set' then
    local v = ARGV[3] and string.match(ARGV[3], '^%d+$') and tonumber(ARGV[3])
    if not v or v < s[1] or v > s[2] then
        return redis.error_reply(string.format('KWQ_INVAL %s must be between %.0f and %.0f, got %s',
            name, s[1], s[2], tostring(ARGV[3])))
    end
    redis.call('HSET', K_CONF, name, ARGV[3])
    return v
end
return redis.error_reply("KWQ_INVAL conf needs 'get' or 'set'")
