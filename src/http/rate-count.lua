-- A tenant's request count for the current window, shared by every API process, which take
-- counts from it in leases. Gives back `ARGV[3]` counts an earlier lease did not use (only
-- into the window they were taken from: a count given back into a later window would let
-- more than the limit through there), then takes up to `ARGV[1]` counts, never past the limit:
-- a refused request takes none, so counts given back later make room again.
--
-- KEYS[1]  the count (a string integer that expires with its window)
-- ARGV[1]  counts to take (0: only give back)
-- ARGV[2]  the window, in ms: a count that does not exist yet starts one
-- ARGV[3]  unused counts to give back (0: none)
-- ARGV[4]  when the window they were taken from ends, in ms on Redis's clock, as this script
--          answered it then
-- ARGV[5]  the limit
-- Returns {the count after taking, ms left in the window, when the window ends (ms, Redis's
-- clock), the counts taken (0: the limit is reached)}.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = redis.call('PTTL', KEYS[1])
local window = tonumber(ARGV[2])
if ttl == -2 and tonumber(ARGV[1]) == 0 then return {0, 0, 0, 0} end
-- Windows follow each other, so two ends of different windows are at least a window apart;
-- ends of the same one differ only by rounding to milliseconds.
if tonumber(ARGV[3]) > 0 and ttl > 0 and math.abs(now + ttl - tonumber(ARGV[4])) < window / 2 then
  redis.call('DECRBY', KEYS[1], ARGV[3])
end
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local take = math.max(0, math.min(tonumber(ARGV[1]), tonumber(ARGV[5]) - count))
local counted = redis.call('INCRBY', KEYS[1], take)
if ttl < 0 then
  -- A new window (or a count that somehow lost its expiry).
  redis.call('PEXPIRE', KEYS[1], window)
  ttl = window
end
return {counted, ttl, now + ttl, take}
