-- ARGV: prefix, node, job, chunk, fence, now. Returns {'stale'}, {'retry', failures} or
-- {'failed', failures, then node, chunk, fence per revoked lease}.
local node, job, chunk, fence, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
touch_node(node, now)
local exp = held(node, job, chunk, fence)
if not exp or exp <= now then
  return {'stale'}
end
drop_lease(fence)
local j = jk(job)
if redis.call('EXISTS', j) == 0 then
  return {'stale'}
end
redis.call('HDEL', j .. ':leased', chunk)
redis.call('HINCRBY', j, 'failures', 1)
local prev = redis.call('HGET', j .. ':failures', chunk)
local failures = 1
if prev then
  failures = tonumber(string.match(prev, '^(%d+):')) + 1
end
redis.call('HSET', j .. ':failures', chunk, I(failures) .. ':' .. node)
if failures >= tonumber(redis.call('HGET', j, 'max_attempts')) then
  local out = {'failed', I(failures)}
  remove_job(job, out)
  return out
end
redis.call('RPUSH', j .. ':returned', chunk)
enqueue(job)
return {'retry', I(failures)}
