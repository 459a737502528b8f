-- ARGV: prefix, node. Returns node, job, chunk per lease back to pending.
local out = {}
kill_node(ARGV[2], out)
return out
