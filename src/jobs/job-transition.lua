-- Moves a job between statuses atomically, with its status-set membership, its fields and
-- its `status` (and `end`) events, so the stream and the record never disagree. Refuses when
-- the current status is not one of the allowed ones, e.g. a late "completed" after a cancel.
--
-- KEYS[1]   the job's hash
-- KEYS[2]   the job's event stream
-- KEYS[3..] the global index of each status, in the order of ARGV[7]
-- ARGV[1]   the job's id
-- ARGV[2]   the status to move to
-- ARGV[3]   the statuses it may move from, comma-separated
-- ARGV[4]   the fields to write with it: a JSON object of strings
-- ARGV[5]   the `status` event's data (JSON), appended when the status changes
-- ARGV[6]   the `end` event's data (JSON), or '' when the new status is not terminal
-- ARGV[7]   every status, a JSON array: names KEYS[3..]
-- ARGV[8]   seconds the record and its events live after an `end` (0: for ever)
-- ARGV[9]   the tenant indexes' prefix (`<prefix>:tenant:`)
-- ARGV[10]  most jobs the tenant may run at once, checked when moving to running (0: no limit)
-- ARGV[11]  the job as a holder (`job:<id>`): an ending job leaves the holds set its `pin`
--           field names (job-create.lua), so the model it started from can be deleted again
-- Returns {done, the status it found}: done is 1 when it moved, 0 when there is no such job
-- (status '') or its status is not one of ARGV[3], 2 when the tenant runs ARGV[10] jobs already.
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, ''} end
local allowed = false
for s in string.gmatch(ARGV[3], '[^,]+') do if s == current then allowed = true end end
if not allowed then return {0, current} end
-- Tenant indexes are named from the record (the caller need not know the tenant); one Redis, not a cluster.
local tenantKey = ARGV[9] .. (redis.call('HGET', KEYS[1], 'tenant') or 'local') .. ':jobs:'
if ARGV[2] == 'running' and current ~= 'running' and tonumber(ARGV[10]) > 0
  and redis.call('ZCARD', tenantKey .. 'running') >= tonumber(ARGV[10]) then
  return {2, current}
end
local fields = cjson.decode(ARGV[4])
local flat = {'status', ARGV[2]}
for k, v in pairs(fields) do
  table.insert(flat, k)
  table.insert(flat, v)
end
redis.call('HSET', KEYS[1], unpack(flat))
local index = {}
for i, s in ipairs(cjson.decode(ARGV[7])) do index[s] = KEYS[2 + i] end
redis.call('ZREM', index[current], ARGV[1])
redis.call('ZADD', index[ARGV[2]], 0, ARGV[1])
redis.call('ZREM', tenantKey .. current, ARGV[1])
redis.call('ZADD', tenantKey .. ARGV[2], 0, ARGV[1])
if current ~= ARGV[2] then redis.call('XADD', KEYS[2], '*', 'event', 'status', 'data', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('XADD', KEYS[2], '*', 'event', 'end', 'data', ARGV[6]) end
local pin = ARGV[6] ~= '' and redis.call('HGET', KEYS[1], 'pin')
if pin then
  redis.call('SREM', pin, ARGV[11])
  redis.call('HDEL', KEYS[1], 'pin')
end
if ARGV[6] ~= '' and tonumber(ARGV[8]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[8])
  redis.call('EXPIRE', KEYS[2], ARGV[8])
end
return {1, current}
