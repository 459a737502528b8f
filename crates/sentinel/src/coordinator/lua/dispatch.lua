-- ARGV: prefix, ttl_ms, now. Returns node, job, chunk, fence, exp per grant.
local ttl, now = tonumber(ARGV[2]), tonumber(ARGV[3])
local rotation = {}
for _, node in ipairs(redis.call('HKEYS', CREDITS)) do
  local seen = redis.call('ZSCORE', SEEN, node)
  if seen and tonumber(seen) >= now - ttl then
    table.insert(rotation, node)
  end
end
table.sort(rotation)
local out = {}
-- One chunk per node per round, so scarce work is shared across nodes.
while #rotation > 0 and redis.call('LLEN', SHARES) > 0 do
  local keep = {}
  for _, node in ipairs(rotation) do
    local credit = credit_of(node)
    if credit > 0 then
      local got = {}
      if take_leases(node, 1, ttl, now, got) == 1 then
        set_credit(node, credit - 1)
        table.insert(out, node)
        for _, v in ipairs(got) do
          table.insert(out, v)
        end
        table.insert(keep, node)
      end
    end
  end
  rotation = keep
end
return out
