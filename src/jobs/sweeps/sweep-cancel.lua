-- Marks a running sweep cancelled (`cancelling` until its trials have stopped); a sweep that
-- finished meanwhile is left as it is, so it never gets a second end.
--
-- KEYS[1]  the sweep's record
-- Returns 1 when it marked the sweep, else 0.
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'cancelling')
return 1
