-- ARGV: prefix, node, now, then job, chunk, fence per lease. Returns outcome, job_done ('1',
-- '0' or '-' when not completed) per lease, in order.
local node, now = ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV, 3 do
  local outcome, job_done = complete_lease(node, ARGV[i], ARGV[i + 1], ARGV[i + 2], now)
  out[#out + 1] = outcome
  out[#out + 1] = job_done or '-'
end
return out
