-- ARGV: prefix, node, free_slots, ttl_ms, now. Returns job, chunk, fence, exp per lease.
local node, free, ttl, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
touch_node(node, now)
local out = {}
local n = take_leases(node, free, ttl, now, out)
set_credit(node, free - n)
return out
