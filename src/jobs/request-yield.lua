-- Asks a running job to yield (checkpoint, then go back to the queue): a worker shutting down
-- does. A cancel is never overridden; a job that is not running (one its worker deferred is
-- still queued) gets no flag, so it does not find a stale one when it starts.
--
-- KEYS[1]  the job's hash
-- Returns nothing.
if redis.call('HGET', KEYS[1], 'control') ~= 'cancel' and redis.call('HGET', KEYS[1], 'status') == 'running' then
  redis.call('HSET', KEYS[1], 'control', 'yield')
end
