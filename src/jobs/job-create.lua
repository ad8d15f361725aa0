-- Writes a new queued job with its global and tenant index entries and its first event,
-- unless the tenant already has ARGV[4] jobs queued.
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
-- Returns -1 when the tenant has ARGV[4] jobs queued already (nothing is written), else how
-- many jobs the tenant had queued or running before this one, which orders the queue fairly
-- between tenants.
local queued = redis.call('ZCARD', KEYS[6])
if tonumber(ARGV[4]) > 0 and queued >= tonumber(ARGV[4]) then return -1 end
local flat = {}
for k, v in pairs(cjson.decode(ARGV[2])) do
  table.insert(flat, k)
  table.insert(flat, v)
end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
redis.call('ZADD', KEYS[5], 0, ARGV[1])
redis.call('ZADD', KEYS[6], 0, ARGV[1])
redis.call('SADD', KEYS[8], ARGV[5])
redis.call('XADD', KEYS[2], '*', 'event', 'status', 'data', ARGV[3])
return queued + redis.call('ZCARD', KEYS[7])
