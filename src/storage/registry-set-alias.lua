-- Points an alias at a version (creating the alias or moving it) and appends the move to the
-- alias's history, in one step: a request resolving the alias sees the old version or the
-- new one, never neither.
--
-- KEYS[1]  the registered model's versions (a sorted set: score the version)
-- KEYS[2]  its aliases (a hash: alias -> version)
-- KEYS[3]  the alias's history (a list of JSON moves, oldest first)
-- ARGV[1]  the alias
-- ARGV[2]  the version
-- ARGV[3]  now (the move's `at`)
-- ARGV[4]  how many moves the history keeps
-- Returns the version it pointed at before, 0 when it is new, -1 when there is no such version
-- (nothing changed).
if redis.call('ZCOUNT', KEYS[1], ARGV[2], ARGV[2]) == 0 then return -1 end
local previous = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local move = {
  version = tonumber(ARGV[2]),
  previousVersion = previous and tonumber(previous) or cjson.null,
  at = ARGV[3],
}
redis.call('RPUSH', KEYS[3], cjson.encode(move))
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[4]), -1)
return previous and tonumber(previous) or 0
