-- Writes a new queued job with its global and tenant index entries and its first event,
-- unless the tenant already has ARGV[4] jobs queued. A fine-tuning job pins the stored model
-- it starts from: it joins that model's holds set (owned-unregister.lua refuses to delete a
-- held model) and records the set in its `pin` field, which job-transition.lua lets go of when
-- the job ends. Checking the model exists and holding it are one step, so a delete cannot
-- slip in between the submit's resolving the parent and the job's existing.
--
-- KEYS[1]  the job's hash
-- KEYS[2]  the job's event stream
-- KEYS[3]  the index of every job
-- KEYS[4]  the index of queued jobs
-- KEYS[5]  the tenant's index of its jobs
-- KEYS[6]  the tenant's index of its queued jobs
-- KEYS[7]  the tenant's index of its running jobs
-- KEYS[8]  the set of tenants that ever submitted a job
-- ARGV[1]  the job's id
-- ARGV[2]  the record: a JSON object of strings
-- ARGV[3]  the first `status` event's data (JSON)
-- ARGV[4]  most jobs the tenant may have queued (0: no limit)
-- ARGV[5]  the tenant
-- ARGV[6]  the parent model's metadata key ('' when the job does not fine-tune)
-- ARGV[7]  the parent model's holds set
-- ARGV[8]  the job as a holder (`job:<id>`)
-- Returns -1 when the tenant has ARGV[4] jobs queued already, -2 when the parent model no
-- longer exists, -3 when the job exists already (a sweep relaunching a trial it created; nothing
-- is written in any of these cases), else how many jobs the tenant had queued or
-- running before this one, which orders the queue fairly between tenants. The parent's keys
-- come as arguments because only a fine-tuning job has them; one Redis, not a cluster.
if redis.call('EXISTS', KEYS[1]) == 1 then return -3 end
local queued = redis.call('ZCARD', KEYS[6])
if tonumber(ARGV[4]) > 0 and queued >= tonumber(ARGV[4]) then return -1 end
if ARGV[6] ~= '' and redis.call('EXISTS', ARGV[6]) == 0 then return -2 end
local flat = {}
for k, v in pairs(cjson.decode(ARGV[2])) do
  table.insert(flat, k)
  table.insert(flat, v)
end
redis.call('HSET', KEYS[1], unpack(flat))
if ARGV[6] ~= '' then
  redis.call('SADD', ARGV[7], ARGV[8])
  redis.call('HSET', KEYS[1], 'pin', ARGV[7])
end
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
redis.call('ZADD', KEYS[5], 0, ARGV[1])
redis.call('ZADD', KEYS[6], 0, ARGV[1])
redis.call('SADD', KEYS[8], ARGV[5])
redis.call('XADD', KEYS[2], '*', 'event', 'status', 'data', ARGV[3])
return queued + redis.call('ZCARD', KEYS[7])
