-- Unregisters a model's or dataset's metadata and un-counts its bytes from its tenant's usage,
-- unless something holds it (a registry version points at the model, or a queued or running
-- job fine-tunes it: job-create.lua, job-transition.lua): the check and the
-- removal are one step, so nothing can start holding it in between. The tenant's index and
-- usage are named from the metadata (the caller need not know the tenant); one Redis, not a
-- cluster.
--
-- KEYS[1]  the resource's metadata (a JSON string with `tenant` and `bytes`)
-- KEYS[2]  the global index of this kind
-- KEYS[3]  the set of what holds the resource (registry-add-version.lua adds to it)
-- ARGV[1]  the resource's id
-- ARGV[2]  the tenant keys' prefix (`<prefix>:tenant:`)
-- ARGV[3]  the tenant of metadata made before tenancy ('local')
-- ARGV[4]  the tenant index's name after `<prefix>:tenant:<tenant>:` ("models", "datasets")
-- Returns the metadata it removed, nil when there was none, or (removing nothing) an array of
-- up to 10 members of KEYS[3] when it is held.
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local holders = redis.call('SRANDMEMBER', KEYS[3], 10)
if #holders > 0 then return holders end
local meta = cjson.decode(raw)
local tenant = meta.tenant or ARGV[3]
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', ARGV[2] .. tenant .. ':' .. ARGV[4], ARGV[1])
-- 0 - x, not -x: -0 would reach Redis as "-0", which HINCRBY refuses (a model of 0 bytes).
redis.call('HINCRBY', ARGV[2] .. tenant .. ':usage', 'bytes', 0 - (meta.bytes or 0))
return raw
