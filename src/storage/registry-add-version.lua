-- Adds the next version of a registered model (creating the name on its first version), if
-- the stored model it points at still exists, and marks the model as held by it: checking the
-- model and holding it in one step is what makes deleting a registered model impossible
-- (owned-unregister.lua checks the holds set in one step too).
--
-- KEYS[1]  the tenant's index of registered names (a sorted set, score 0)
-- KEYS[2]  the registered model's hash (createdAt, lastVersion)
-- KEYS[3]  its versions (a sorted set: score the version, member its record as JSON)
-- KEYS[4]  the stored model's metadata
-- KEYS[5]  the stored model's holds set
-- ARGV[1]  the registered name
-- ARGV[2]  the version's record without `version` (JSON: modelId, description?, createdAt)
-- ARGV[3]  now (the registered model's createdAt when this is its first version)
-- ARGV[4]  the holder's prefix (`<tenant>/<name>@`): the version number completes it
-- ARGV[5]  most registered names the tenant may have (0: no limit)
-- ARGV[6]  most versions a name may have (0: no limit)
-- Returns the new version's number, 0 when the stored model does not exist, -1 when the name
-- is new and the tenant has ARGV[5] names already, -2 when the name has ARGV[6] versions
-- already (nothing is written). Counting and adding are one step, so concurrent registrations
-- cannot together pass a cap.
if redis.call('EXISTS', KEYS[4]) == 0 then return 0 end
local maxNames, maxVersions = tonumber(ARGV[5]), tonumber(ARGV[6])
if maxNames > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1])
  and redis.call('ZCARD', KEYS[1]) >= maxNames then return -1 end
if maxVersions > 0 and redis.call('ZCARD', KEYS[3]) >= maxVersions then return -2 end
-- The counter only ever grows, so a deleted version's number is never given again.
local version = redis.call('HINCRBY', KEYS[2], 'lastVersion', 1)
redis.call('HSETNX', KEYS[2], 'createdAt', ARGV[3])
local record = cjson.decode(ARGV[2])
record.version = version
redis.call('ZADD', KEYS[3], version, cjson.encode(record))
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('SADD', KEYS[5], ARGV[4] .. version)
return version
