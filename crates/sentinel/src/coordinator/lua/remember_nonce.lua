-- ARGV: prefix, key, ttl_ms, now, capacity. Returns {'new'}, {'seen'} or {'full', count}.
-- Each nonce is its own key (SET NX PX, value = its expiry on the caller's clock); the
-- `nonces` sorted set counts the unexpired ones so the cache stays bounded.
local key, ttl, now, cap = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local z = P .. 'nonces'
local k = P .. 'nonce:' .. key
redis.call('ZREMRANGEBYSCORE', z, '-inf', I(now))
local v = redis.call('GET', k)
if v and tonumber(v) > now then
  return {'seen'}
end
local n = redis.call('ZCARD', z)
if n >= cap then
  return {'full', I(n)}
end
local at = I(now + ttl)
if v then
  -- Expired on the caller's clock but not yet dropped by Redis: take it over.
  redis.call('SET', k, at, 'PX', I(ttl))
else
  redis.call('SET', k, at, 'NX', 'PX', I(ttl))
end
redis.call('ZADD', z, at, key)
-- The index lives as long as its newest nonce.
if redis.call('PTTL', z) < ttl then
  redis.call('PEXPIRE', z, I(ttl))
end
return {'new'}
