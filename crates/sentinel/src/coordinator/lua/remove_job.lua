-- ARGV: prefix, job. Returns {'unknown'} or {'removed', then node, chunk, fence per lease}.
local out = {'removed'}
if not remove_job(ARGV[2], out) then
  return {'unknown'}
end
return out
