-- ARGV: prefix, op (acquire/renew/release), name, holder, token, ttl_ms, now.
-- The lock's own expiry (`exp`) is compared with the caller's clock; PEXPIRE drops the key
-- once that time has passed for real. Returns the token (acquire) or 1/0; '' when refused.
local op, name, holder, token = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl, now = tonumber(ARGV[6]), tonumber(ARGV[7])
local k = P .. 'leader:' .. name
local v = redis.call('HMGET', k, 'holder', 'token', 'exp')
local live = v[3] and tonumber(v[3]) > now
local function extend()
  local exp = math.max(tonumber(v[3]), now + ttl)
  redis.call('HSET', k, 'exp', I(exp))
  redis.call('PEXPIRE', k, I(exp - now))
end
if op == 'acquire' then
  if live then
    if v[1] == holder then
      extend()
      return v[2]
    end
    return ''
  end
  local t = I(next_counter(P .. 'leader_token', now))
  redis.call('HSET', k, 'holder', holder, 'token', t, 'exp', I(now + ttl))
  redis.call('PEXPIRE', k, I(ttl))
  return t
elseif op == 'renew' then
  if live and v[1] == holder and v[2] == token then
    extend()
    return '1'
  end
  return '0'
else
  if v[1] == holder and v[2] == token then
    redis.call('DEL', k)
    return '1'
  end
  return '0'
end
