-- ARGV: prefix, node, now. Returns job, chunk, fence, exp per unexpired lease.
local now = tonumber(ARGV[3])
local out = {}
for _, f in ipairs(redis.call('SMEMBERS', node_leases(ARGV[2]))) do
  local v = redis.call('HMGET', lease_key(f), 'job', 'chunk', 'exp')
  if v[1] and tonumber(v[3]) > now then
    table.insert(out, v[1])
    table.insert(out, v[2])
    table.insert(out, f)
    table.insert(out, v[3])
  end
end
return out
