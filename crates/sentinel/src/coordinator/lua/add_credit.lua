-- ARGV: prefix, node, slots, cap, ttl_ms, now. Returns job, chunk, fence, exp per lease.
local node, slots, cap = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, now = tonumber(ARGV[5]), tonumber(ARGV[6])
touch_node(node, now)
local credit = math.min(credit_of(node) + slots, cap)
local out = {}
local n = take_leases(node, credit, ttl, now, out)
set_credit(node, credit - n)
return out
