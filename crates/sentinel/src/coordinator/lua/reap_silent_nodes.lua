-- ARGV: prefix, now, silence_ms. Returns per dead node: node, n, then n x (node, job, chunk).
local now, silence = tonumber(ARGV[2]), tonumber(ARGV[3])
local silent = redis.call('ZRANGEBYSCORE', SEEN, '-inf', '(' .. I(now - silence))
table.sort(silent)
local out = {}
for _, node in ipairs(silent) do
  local recs = {}
  local n = kill_node(node, recs)
  table.insert(out, node)
  table.insert(out, I(n))
  for _, v in ipairs(recs) do
    table.insert(out, v)
  end
end
return out
