-- ARGV: prefix, node, free_slots, ttl_ms, now, then job, chunk, fence per reported lease.
-- Returns credit, then per reported lease its new expiry or 0 (cancelled).
local node, free, ttl, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
touch_node(node, now)
local exp = now + ttl
local out = {''}
local reported = {}
for i = 6, #ARGV, 3 do
  local job, chunk, fence = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  reported[fence] = true
  local cur = held(node, job, chunk, fence)
  if cur and cur > now then
    local new = math.max(cur, exp)
    redis.call('HSET', lease_key(fence), 'exp', I(new))
    redis.call('ZADD', EXPIRY, I(new), fence)
    table.insert(out, I(new))
  else
    table.insert(out, '0')
  end
end
-- Leases granted after the node's snapshot (a push in flight) already use a slot.
local unreported = 0
for _, f in ipairs(redis.call('SMEMBERS', node_leases(node))) do
  if not reported[f] then
    local e = redis.call('HGET', lease_key(f), 'exp')
    if e and tonumber(e) > now then
      unreported = unreported + 1
    end
  end
end
local credit = math.max(free - unreported, 0)
set_credit(node, credit)
out[1] = I(credit)
return out
