-- Move the deliveries whose lease ran out (their worker died or hung) to the delay
-- schedule, due now, so the relay sends them again (apps/delivery/leases.py,
-- leases_reclaim).
--
-- KEYS[1]  sb:running: sorted set of leases, scored by when they end. Read
--          (ZRANGEBYSCORE) and written (ZREM).
-- KEYS[2]  sb:scheduled: the delay schedule, scored by the due time. Written (ZADD).
-- ARGV[1]  now (Unix seconds): leases ending at or before it have run out; it is also
--          the due time of what moves
-- ARGV[2]  how many leases to move at most
--
-- Returns how many leases moved.
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZADD', KEYS[2], ARGV[1], member)
end
return #expired
