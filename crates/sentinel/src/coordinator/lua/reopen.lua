-- ARGV: prefix, job, chunk, avoid (",node,node,"). Returns {'reopened'}, {'not_done'},
-- {'unknown'} or {'invalid'}.
local job, chunk, avoid = ARGV[2], ARGV[3], ARGV[4]
local j = jk(job)
local count = redis.call('HGET', j, 'count')
if not count then
  return {'unknown'}
end
if tonumber(chunk) >= tonumber(count) then
  return {'invalid'}
end
if redis.call('GETBIT', j .. ':done', chunk) == 0 then
  return {'not_done'}
end
redis.call('SETBIT', j .. ':done', chunk, 0)
redis.call('HINCRBY', j, 'done', -1)
redis.call('HSET', j .. ':avoid', chunk, avoid)
redis.call('RPUSH', j .. ':returned', chunk)
enqueue(job)
return {'reopened'}
