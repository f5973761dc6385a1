-- Take the leases of a batch of deliveries and count their starts (apps/delivery/leases.py,
-- leases_take). One call per batch: a lease held by a live run elsewhere is left alone.
--
-- KEYS[1]       sb:running: sorted set of leases, member [queue, delivery id] (JSON),
--               score the Unix time the lease ends. Read (ZSCORE) and written (ZADD).
-- KEYS[2..n+1]  sb:starts:<delivery id>: start counter of the i-th delivery (string).
--               Read (EXISTS) and written (INCR, EXPIRE) when its start is counted.
-- ARGV[1]       when the leases taken now end (Unix seconds)
-- ARGV[2]       now (Unix seconds): a lease ending later than this is live
-- ARGV[3]       the start counters' TTL in seconds
-- ARGV[4]       which starts to count: '1' every delivery whose lease is taken; 'fresh'
--               all of them if no delivery has a counter yet (a first run), else none
-- ARGV[5..n+4]  the members, [queue, delivery id] JSON, in the order of KEYS[2..n+1]
--
-- Returns, per member: -1 when a live lease is held elsewhere (not taken), else its
-- start number, 0 when the start was not counted.
local count = ARGV[4]
if count == 'fresh' then
  count = '1'
  for i = 2, #KEYS do
    if redis.call('EXISTS', KEYS[i]) == 1 then
      count = '0'
      break
    end
  end
end
local results = {}
for i = 5, #ARGV do
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if current and tonumber(current) > tonumber(ARGV[2]) then
    results[#results + 1] = -1
  else
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
    local n = 0
    if count == '1' then
      n = redis.call('INCR', KEYS[i - 3])
      redis.call('EXPIRE', KEYS[i - 3], ARGV[3])
    end
    results[#results + 1] = n
  end
end
return results
