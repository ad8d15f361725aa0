-- Unregisters a model's or dataset's metadata and un-counts its bytes from its tenant's usage.
-- The tenant's index and usage are named from the metadata (the caller need not know the
-- tenant); one Redis, not a cluster.
--
-- KEYS[1]  the resource's metadata (a JSON string with `tenant` and `bytes`)
-- KEYS[2]  the global index of this kind
-- ARGV[1]  the resource's id
-- ARGV[2]  the tenant keys' prefix (`<prefix>:tenant:`)
-- ARGV[3]  the tenant of metadata made before tenancy ('local')
-- ARGV[4]  the tenant index's name after `<prefix>:tenant:<tenant>:` ("models", "datasets")
-- Returns the metadata it removed, or nil when there was none.
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local meta = cjson.decode(raw)
local tenant = meta.tenant or ARGV[3]
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', ARGV[2] .. tenant .. ':' .. ARGV[4], ARGV[1])
redis.call('HINCRBY', ARGV[2] .. tenant .. ':usage', 'bytes', -(meta.bytes or 0))
return raw
