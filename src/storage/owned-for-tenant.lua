-- A model's or dataset's metadata for one tenant. Membership of the tenant's own index is
-- checked first, so another tenant's resource costs what a missing one does and its metadata
-- (which can be large: layers, columns, statistics) is never read for it.
--
-- KEYS[1]  the resource's metadata (a JSON string)
-- KEYS[2]  the asking tenant's index of this kind (`<prefix>:tenant:<tenant>:models`)
-- ARGV[1]  the resource's id
-- Returns the metadata, or false when there is none or it is not the tenant's.
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return false end
return redis.call('GET', KEYS[1])
