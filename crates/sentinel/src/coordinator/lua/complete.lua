-- ARGV: prefix, node, job, chunk, fence, now. Returns {outcome[, job_done]}.
local node, job, chunk, fence, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local j = jk(job)
local count = redis.call('HGET', j, 'count')
if not count then
  return {'stale'}
end
if tonumber(chunk) >= tonumber(count) then
  return {'invalid'}
end
if redis.call('GETBIT', j .. ':done', chunk) == 1 then
  return {'already'}
end
local exp = held(node, job, chunk, fence)
if not exp or exp <= now then
  return {'stale'}
end
drop_lease(fence)
redis.call('HDEL', j .. ':leased', chunk)
redis.call('HDEL', j .. ':failures', chunk)
redis.call('HDEL', j .. ':avoid', chunk)
redis.call('SETBIT', j .. ':done', chunk, 1)
local done = redis.call('HINCRBY', j, 'done', 1)
return {'completed', done == tonumber(count) and '1' or '0'}
