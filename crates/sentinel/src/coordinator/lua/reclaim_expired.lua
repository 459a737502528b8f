-- ARGV: prefix, now. Returns node, job, chunk per lease back to pending.
local now = tonumber(ARGV[2])
local out = {}
for _, fence in ipairs(redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', I(now))) do
  local rec = return_lease(fence)
  if rec then
    table.insert(out, rec[3])
    table.insert(out, rec[1])
    table.insert(out, rec[2])
  else
    redis.call('ZREM', EXPIRY, fence)
  end
end
return out
