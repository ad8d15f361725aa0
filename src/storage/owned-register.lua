-- Registers a model's or dataset's metadata with the global and tenant indexes and adds its
-- bytes to the tenant's usage, replacing (and un-counting) an earlier registration under the
-- same id. With a limit, refuses when the tenant's usage would go over it.
--
-- KEYS[1]  the resource's metadata (a JSON string with `bytes`)
-- KEYS[2]  the global index of this kind
-- KEYS[3]  the tenant's index of this kind
-- KEYS[4]  the tenant's usage hash (field `bytes`, shared by every kind)
-- ARGV[1]  the resource's id
-- ARGV[2]  the metadata (JSON)
-- ARGV[3]  its bytes
-- ARGV[4]  most bytes the tenant may store (0: no limit)
-- Returns 1 when registered, -1 when over the limit (nothing is written).
local old = redis.call('GET', KEYS[1])
local oldBytes = old and (cjson.decode(old).bytes or 0) or 0
local used = tonumber(redis.call('HGET', KEYS[4], 'bytes') or '0')
if tonumber(ARGV[4]) > 0 and used - oldBytes + tonumber(ARGV[3]) > tonumber(ARGV[4]) then return -1 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('HINCRBY', KEYS[4], 'bytes', tonumber(ARGV[3]) - oldBytes)
return 1
