-- Releases a sweep's reconcile lock only if this holder still has it: one that expired and
-- was taken by another holder stays theirs.
--
-- KEYS[1]  the sweep's lock
-- ARGV[1]  the holder's token
-- Returns 1 when it released the lock, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
