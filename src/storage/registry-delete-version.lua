-- Deletes one version of a registered model, unless an alias points at it, and lets go of its
-- stored model (which can be deleted once nothing holds it). The name and its version counter
-- stay, so the number is never given again.
--
-- KEYS[1]  the registered model's versions (a sorted set: score the version)
-- KEYS[2]  its aliases (a hash: alias -> version)
-- KEYS[3]  the holds set of the version's stored model
-- ARGV[1]  the version
-- ARGV[2]  the holder (`<tenant>/<name>@<version>`)
-- Returns {1} when deleted, {0} when there is no such version, or {-1, alias...}: the aliases
-- pointing at it (nothing deleted).
local found = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[1], 'BYSCORE')
if #found == 0 then return {0} end
local aliases = redis.call('HGETALL', KEYS[2])
local pointing = {-1}
for i = 1, #aliases, 2 do
  if aliases[i + 1] == ARGV[1] then table.insert(pointing, aliases[i]) end
end
if #pointing > 1 then return pointing end
redis.call('ZREM', KEYS[1], found[1])
redis.call('SREM', KEYS[3], ARGV[2])
return {1}
