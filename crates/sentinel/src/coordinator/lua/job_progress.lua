-- ARGV: prefix, job. Returns {} for an unknown job, else count, done, failures, leased.
local j = jk(ARGV[2])
local v = redis.call('HMGET', j, 'count', 'done', 'failures')
if not v[1] then
  return {}
end
return {v[1], v[2], v[3], I(redis.call('HLEN', j .. ':leased'))}
