-- ARGV: prefix, node, job, chunk, fence, now. Returns {outcome, job_done ('1', '0' or '-')}.
local node, job, chunk, fence, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local outcome, job_done = complete_lease(node, job, chunk, fence, now)
return {outcome, job_done or '-'}
