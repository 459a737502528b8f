-- ARGV: prefix, node, job, chunk, fence, now, avoid (",node,node,"). Returns {outcome}:
-- 'requeued', 'already', 'stale' or 'invalid'.
local node, job, chunk, fence, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local refused = end_current_lease(node, job, chunk, fence, now)
if refused then
  return {refused}
end
local j = jk(job)
redis.call('HDEL', j .. ':leased', chunk)
redis.call('HSET', j .. ':avoid', chunk, ARGV[7])
redis.call('RPUSH', j .. ':returned', chunk)
enqueue(job)
return {'requeued'}
