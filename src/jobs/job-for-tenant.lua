-- A job's record for one tenant. Its small `tenant` field is read first, so another tenant's
-- job costs what a missing one does, and its record (which holds the whole request, inline
-- data included) is never read for a tenant that may not see it.
--
-- KEYS[1]  the job's hash
-- ARGV[1]  the asking tenant; '' for an admin, who sees every tenant's jobs
-- ARGV[2]  the tenant of records made before tenancy ('local')
-- ARGV[3..] the fields to read; none: every field
-- Returns false (no such job, or not the tenant's), else the fields: [name, value, ...] for
-- every field, or the values of ARGV[3..] in order.
local found = redis.call('HMGET', KEYS[1], 'id', 'tenant')
if not found[1] then return false end
if ARGV[1] ~= '' and (found[2] or ARGV[2]) ~= ARGV[1] then return false end
if #ARGV < 3 then return redis.call('HGETALL', KEYS[1]) end
return redis.call('HMGET', KEYS[1], unpack(ARGV, 3))
