-- ARGV: prefix, job, count. Raises the job's chunk count; the new chunks are fresh (beyond
-- next_fresh), so the job only has to be queued again. Returns extended|unchanged|unknown.
local job = ARGV[2]
local j = jk(job)
local count = redis.call('HGET', j, 'count')
if not count then
  return 'unknown'
end
if tonumber(ARGV[3]) <= tonumber(count) then
  return 'unchanged'
end
redis.call('HSET', j, 'count', ARGV[3])
enqueue(job)
return 'extended'
