-- Clears a job's yield request once the job is back in the queue, so the next worker trains
-- it; a cancel request stays.
--
-- KEYS[1]  the job's hash
-- Returns nothing.
if redis.call('HGET', KEYS[1], 'control') == 'yield' then
  redis.call('HDEL', KEYS[1], 'control')
end
