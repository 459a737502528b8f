-- ARGV: prefix. Nodes holding credit that are not dead, sorted.
local out = {}
for _, node in ipairs(redis.call('HKEYS', CREDITS)) do
  if redis.call('ZSCORE', SEEN, node) then
    table.insert(out, node)
  end
end
table.sort(out)
return out
