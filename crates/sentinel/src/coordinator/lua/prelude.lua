-- Shared helpers of the Redis coordinator's scripts (prepended to each). ARGV[1] is the key
-- prefix of the grid; keys are built here, so every script targets one Redis primary. Numbers
-- cross into Redis as "%d" strings: Lua 5.1 numbers are doubles and tostring would round them.
local P = ARGV[1]
local function I(n) return string.format('%d', n) end
local function jk(job) return P .. 'job:' .. job end
local function lease_key(fence) return P .. 'lease:' .. fence end
local function node_leases(node) return P .. 'node:' .. node .. ':leases' end
local SEEN = P .. 'nodes_seen'
local CREDITS = P .. 'credits'
local SHARES = P .. 'shares'
local EXPIRY = P .. 'lease_expiry'
local DEADLINE = P .. 'lease_deadline'

-- Takes `n` numbers at once from a counter that starts from the wall clock (ms x 1000) when
-- missing, so fences and tokens keep growing even after Redis lost its data; returns the
-- last of them.
local function next_counters(key, n, now)
  local v = redis.call('INCRBY', key, n)
  if v == n then
    -- It was missing: start from the clock (one command on the common path, not two).
    v = now * 1000 + n
    redis.call('SET', key, I(v))
  end
  return v
end

local function next_counter(key, now)
  return next_counters(key, 1, now)
end

local function touch_node(node, now)
  redis.call('ZADD', SEEN, 'GT', I(now), node)
end

local function set_credit(node, credit)
  if credit > 0 then
    redis.call('HSET', CREDITS, node, I(credit))
  else
    redis.call('HDEL', CREDITS, node)
  end
end

local function credit_of(node)
  return tonumber(redis.call('HGET', CREDITS, node) or '0')
end

-- Chunks neither done nor leased.
local function pending(job)
  local j = jk(job)
  local v = redis.call('HMGET', j, 'count', 'done')
  return tonumber(v[1]) - tonumber(v[2]) - redis.call('HLEN', j .. ':leased')
end

local function enqueue(job)
  local j = jk(job)
  local v = redis.call('HMGET', j, 'queued', 'share')
  if not v[2] or v[1] == '1' or pending(job) == 0 then
    return
  end
  redis.call('HSET', j, 'queued', '1')
  local q = P .. 'share:' .. v[2]
  if redis.call('LLEN', q) == 0 then
    redis.call('RPUSH', SHARES, v[2])
  end
  redis.call('RPUSH', q, job)
end

local function dequeue(job, share)
  local q = P .. 'share:' .. share
  redis.call('LREM', q, 0, job)
  if redis.call('LLEN', q) == 0 then
    redis.call('LREM', SHARES, 0, share)
  end
end

-- The lease record if `node` holds `fence` for this job and chunk (expired or not).
local function held(node, job, chunk, fence)
  local v = redis.call('HMGET', lease_key(fence), 'job', 'chunk', 'node', 'exp')
  if v[1] == job and v[2] == chunk and v[3] == node then
    return tonumber(v[4])
  end
  return nil
end

-- Leases `chunks` of `job` to `node` with consecutive new fences, in one pass over the indexes
-- (multi-argument commands); appends job, chunk, fence, exp of each to `out`.
local function insert_leases(job, chunks, node, exp, deadline, now, out)
  local n = #chunks
  local first = next_counters(P .. 'fence', n, now) - n + 1
  local e, d = I(exp), I(deadline)
  local fences, expiry, deadlines, leased = {}, {}, {}, {}
  for i, c in ipairs(chunks) do
    local fence = I(first + i - 1)
    redis.call('HSET', lease_key(fence), 'job', job, 'chunk', c, 'node', node, 'exp', e,
      'deadline', d)
    fences[i] = fence
    expiry[2 * i - 1], expiry[2 * i] = e, fence
    deadlines[2 * i - 1], deadlines[2 * i] = d, fence
    leased[2 * i - 1], leased[2 * i] = c, fence
    out[#out + 1] = job
    out[#out + 1] = c
    out[#out + 1] = fence
    out[#out + 1] = e
  end
  redis.call('SADD', node_leases(node), unpack(fences))
  redis.call('ZADD', EXPIRY, unpack(expiry))
  redis.call('ZADD', DEADLINE, unpack(deadlines))
  redis.call('HSET', jk(job) .. ':leased', unpack(leased))
end

-- Removes a lease from every index (not from its job's leased hash); returns job, chunk, node.
-- `known` is that record when the caller has just read it.
local function drop_lease(fence, known)
  local k = lease_key(fence)
  local v = known or redis.call('HMGET', k, 'job', 'chunk', 'node')
  if not v[1] then
    return nil
  end
  redis.call('DEL', k)
  redis.call('ZREM', EXPIRY, fence)
  redis.call('ZREM', DEADLINE, fence)
  redis.call('SREM', node_leases(v[3]), fence)
  return v
end

-- Returns a leased chunk to pending; the record as {job, chunk, node} or nil.
local function return_lease(fence)
  local rec = drop_lease(fence)
  if not rec then
    return nil
  end
  local j = jk(rec[1])
  if redis.call('HGET', j .. ':leased', rec[2]) == fence then
    redis.call('HDEL', j .. ':leased', rec[2])
    redis.call('RPUSH', j .. ':returned', rec[2])
  end
  enqueue(rec[1])
  return rec
end

local function by_number(a, b) return tonumber(a) < tonumber(b) end

-- Marks `node` dead (out of the liveness index), drops its credit, returns its leases.
local function kill_node(node, out)
  redis.call('ZREM', SEEN, node)
  redis.call('HDEL', CREDITS, node)
  local fences = redis.call('SMEMBERS', node_leases(node))
  table.sort(fences, by_number)
  local n = 0
  for _, f in ipairs(fences) do
    local rec = return_lease(f)
    if rec then
      table.insert(out, rec[3])
      table.insert(out, rec[1])
      table.insert(out, rec[2])
      n = n + 1
    end
  end
  return n
end

-- Removes a job and its keys; appends node, chunk, fence of each revoked lease to `out`.
local function remove_job(job, out)
  local j = jk(job)
  local v = redis.call('HMGET', j, 'queued', 'share')
  if not v[2] then
    return false
  end
  if v[1] == '1' then
    dequeue(job, v[2])
  end
  local leased = redis.call('HGETALL', j .. ':leased')
  for i = 1, #leased, 2 do
    local rec = drop_lease(leased[i + 1])
    if rec then
      table.insert(out, rec[3])
      table.insert(out, leased[i])
      table.insert(out, leased[i + 1])
    end
  end
  redis.call('DEL', j, j .. ':returned', j .. ':done', j .. ':leased', j .. ':failures',
    j .. ':avoid')
  return true
end

-- One pending chunk of `job` for `node`: returned chunks first, skipping those that last
-- failed on `node` while `other_live()` says another node could take them and those awaiting a
-- spot check that `node` must not take (`job:{id}:avoid`); then fresh ones.
local function take_chunk(job, node, other_live)
  local j = jk(job)
  local rk = j .. ':returned'
  local returned = redis.call('LLEN', rk) > 0
  if returned then
    local fk = j .. ':failures'
    local ak = j .. ':avoid'
    if redis.call('HLEN', fk) == 0 and redis.call('HLEN', ak) == 0 then
      return redis.call('LPOP', rk)
    end
    for _, c in ipairs(redis.call('LRANGE', rk, 0, -1)) do
      local f = redis.call('HGET', fk, c)
      local skip = false
      local a = redis.call('HGET', ak, c)
      if a and string.find(a, ',' .. node .. ',', 1, true) then
        skip = true
      elseif f and string.match(f, ':(.*)$') == node and other_live() then
        skip = true
      end
      if not skip then
        redis.call('LREM', rk, 1, c)
        return c
      end
    end
  end
  local v = redis.call('HMGET', j, 'count', 'next_fresh')
  local count, nf = tonumber(v[1]), tonumber(v[2])
  local found = nil
  while nf < count do
    local c = I(nf)
    nf = nf + 1
    -- A returned chunk is taken from the list only (with its bar): a restored job scans its
    -- fresh chunks from 0 and would meet a reopened one here too.
    if redis.call('GETBIT', j .. ':done', c) == 0 and redis.call('HEXISTS', j .. ':leased', c) == 0
      and not (returned and redis.call('LPOS', rk, c)) then
      found = c
      break
    end
  end
  redis.call('HSET', j, 'next_fresh', I(nf))
  return found
end

-- Most chunks one run of `take_fresh_run` leases (its multi-argument commands stay small).
local RUN_MAX = 256

-- Leases up to `k` fresh chunks of `job`, in index order, to `node` in one pass; appends job,
-- chunk, fence, exp of each to `out` and returns the count. Only for a job with no returned
-- chunk waiting and no other job queued beside it: then the per-chunk round-robin would lease
-- exactly these chunks with exactly these fences, re-reading and re-writing the job's fields
-- and the indexes once per chunk.
local function take_fresh_run(job, node, k, exp, now, out)
  local j = jk(job)
  local v = redis.call('HMGET', j, 'count', 'next_fresh', 'wall_ms')
  local count, nf, wall = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
  local chunks = {}
  while nf < count and #chunks < k do
    local c = I(nf)
    nf = nf + 1
    if redis.call('GETBIT', j .. ':done', c) == 0 and redis.call('HEXISTS', j .. ':leased', c) == 0 then
      chunks[#chunks + 1] = c
    end
  end
  redis.call('HSET', j, 'next_fresh', I(nf))
  if #chunks > 0 then
    insert_leases(job, chunks, node, exp, now + wall, now, out)
  end
  return #chunks
end

-- Leases up to `free` pending chunks to `node`, rotating over share keys, then over each
-- key's jobs; appends job, chunk, fence, exp of each lease to `out`; returns the count.
local function take_leases(node, free, ttl, now, out)
  local exp = now + ttl
  local cache = nil
  local function other_live()
    if cache == nil then
      cache = false
      for _, id in ipairs(redis.call('ZRANGEBYSCORE', SEEN, I(now - ttl), '+inf', 'LIMIT', 0, 2)) do
        if id ~= node then
          cache = true
        end
      end
    end
    return cache
  end
  -- Once every queued job was offered without yielding a chunk for this node (all its
  -- pending chunks last failed here), stop instead of spinning. Counted at the first miss,
  -- so a lease that finds work at once does not pay for it.
  local max_misses = nil
  local function queued_jobs()
    local total = 0
    for _, k in ipairs(redis.call('LRANGE', SHARES, 0, -1)) do
      total = total + redis.call('LLEN', P .. 'share:' .. k)
    end
    return total
  end
  local misses, n = 0, 0
  while n < free do
    local key = redis.call('LPOP', SHARES)
    if not key then
      break
    end
    local q = P .. 'share:' .. key
    local job = redis.call('LPOP', q)
    if job then
      local j = jk(job)
      local still = false
      if redis.call('EXISTS', j) == 1 then
        -- The only queued job, nothing returned: lease a run of fresh chunks in one pass.
        local run = 0
        if free - n > 1 and redis.call('LLEN', SHARES) == 0 and redis.call('LLEN', q) == 0
          and redis.call('LLEN', j .. ':returned') == 0 then
          run = take_fresh_run(job, node, math.min(free - n, RUN_MAX), exp, now, out)
        end
        local c = nil
        if run == 0 then
          c = take_chunk(job, node, other_live)
        end
        still = pending(job) > 0
        -- A job in a share queue is flagged queued; only leaving it changes the flag.
        if not still then
          redis.call('HSET', j, 'queued', '0')
        end
        if run > 0 then
          misses = 0
          n = n + run
        elseif c then
          misses = 0
          local wall = tonumber(redis.call('HGET', j, 'wall_ms'))
          insert_leases(job, {c}, node, exp, now + wall, now, out)
          n = n + 1
        else
          misses = misses + 1
        end
      else
        misses = misses + 1
      end
      if still then
        redis.call('RPUSH', q, job)
      end
      if still or redis.call('LLEN', q) > 0 then
        redis.call('RPUSH', SHARES, key)
      end
      if misses > 0 then
        -- The jobs queued now, plus this one if it just left the queue.
        max_misses = max_misses or queued_jobs() + (still and 0 or 1)
        if misses >= max_misses then
          break
        end
      end
    end
  end
  return n
end

-- Ends `node`'s current lease of `chunk` (not the job's leased entry) for complete and
-- recheck; otherwise returns what complete answers ('stale', 'invalid', 'already').
local function end_current_lease(node, job, chunk, fence, now)
  local j = jk(job)
  local count = redis.call('HGET', j, 'count')
  if not count then
    return 'stale'
  end
  if tonumber(chunk) >= tonumber(count) then
    return 'invalid'
  end
  if redis.call('GETBIT', j .. ':done', chunk) == 1 then
    return 'already'
  end
  local exp = held(node, job, chunk, fence)
  if not exp or exp <= now then
    return 'stale'
  end
  drop_lease(fence, {job, chunk, node})
  return nil, count
end

-- Marks `chunk` done if `node` holds its unexpired lease `fence`: 'completed' and whether that
-- was the job's last chunk ('1' or '0'), or what `end_current_lease` refused with.
local function complete_lease(node, job, chunk, fence, now)
  local refused, count = end_current_lease(node, job, chunk, fence, now)
  if refused then
    return refused, nil
  end
  local j = jk(job)
  redis.call('HDEL', j .. ':leased', chunk)
  redis.call('HDEL', j .. ':failures', chunk)
  redis.call('HDEL', j .. ':avoid', chunk)
  redis.call('SETBIT', j .. ':done', chunk, 1)
  local done = redis.call('HINCRBY', j, 'done', 1)
  return 'completed', done == tonumber(count) and '1' or '0'
end
