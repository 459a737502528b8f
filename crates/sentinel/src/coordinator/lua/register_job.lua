-- ARGV: prefix, job, count, share, max_attempts, wall_ms, restore (0/1), done chunks...
local job = ARGV[2]
local j = jk(job)
if redis.call('EXISTS', j) == 1 then
  return {'exists'}
end
redis.call('HSET', j, 'count', ARGV[3], 'share', ARGV[4], 'max_attempts', ARGV[5],
  'wall_ms', ARGV[6], 'next_fresh', '0', 'done', '0', 'failures', '0', 'queued', '0')
local done = 0
for i = 8, #ARGV do
  if redis.call('SETBIT', j .. ':done', ARGV[i], 1) == 0 then
    done = done + 1
  end
end
redis.call('HSET', j, 'done', I(done))
enqueue(job)
return {'ok'}
