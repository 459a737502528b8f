-- ARGV: prefix, node, job, chunk, fence, now. Returns {outcome[, job_done]}.
local node, job, chunk, fence, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local refused, count = end_current_lease(node, job, chunk, fence, now)
if refused then
  return {refused}
end
local j = jk(job)
redis.call('HDEL', j .. ':leased', chunk)
redis.call('HDEL', j .. ':failures', chunk)
redis.call('HDEL', j .. ':avoid', chunk)
redis.call('SETBIT', j .. ':done', chunk, 1)
local done = redis.call('HINCRBY', j, 'done', 1)
return {'completed', done == tonumber(count) and '1' or '0'}
