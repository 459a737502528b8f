-- ARGV: prefix, job, chunk. Returns {'released'}, {'none'} or {'unknown'}.
local job, chunk = ARGV[2], ARGV[3]
local j = jk(job)
if not redis.call('HGET', j, 'count') then
  return {'unknown'}
end
if redis.call('HDEL', j .. ':avoid', chunk) == 0 then
  return {'none'}
end
enqueue(job)
return {'released'}
