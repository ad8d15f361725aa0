-- Resolves a registered name to one version in one step: its latest version, a version by
-- number, or the version an alias points at. A predict request resolves once, so it is served
-- wholly by the version it found even while the alias moves.
--
-- KEYS[1]  the registered model's hash (exists once it had a version)
-- KEYS[2]  its versions (a sorted set: score the version, member its record as JSON)
-- KEYS[3]  its aliases (a hash: alias -> version)
-- ARGV[1]  'latest', 'version' or 'alias'
-- ARGV[2]  the version number or the alias ('' for latest)
-- Returns the version's record (JSON), 0 when the name is not registered, 1 when it is but
-- has no such version or alias (or no versions left).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local found
if ARGV[1] == 'latest' then
  found = redis.call('ZRANGE', KEYS[2], 0, 0, 'REV')
else
  local version = ARGV[2]
  if ARGV[1] == 'alias' then version = redis.call('HGET', KEYS[3], ARGV[2]) end
  if not version then return 1 end
  found = redis.call('ZRANGE', KEYS[2], version, version, 'BYSCORE')
end
if #found == 0 then return 1 end
return found[1]
