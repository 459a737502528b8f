-- ARGV: prefix, now. Returns node, job, chunk, fence per lease past its deadline, oldest first.
local out = {}
for _, f in ipairs(redis.call('ZRANGEBYSCORE', DEADLINE, '-inf', ARGV[2])) do
  local v = redis.call('HMGET', lease_key(f), 'job', 'chunk', 'node')
  if v[1] then
    table.insert(out, v[3])
    table.insert(out, v[1])
    table.insert(out, v[2])
    table.insert(out, f)
  end
end
return out
