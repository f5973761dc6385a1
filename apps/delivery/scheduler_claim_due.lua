-- Claim the due entries of the delay schedule under a lease (apps/delivery/scheduler.py,
-- claim_due). Claims that ran out (their relay died before sending) go back to the
-- schedule first, so nothing claimed is ever lost.
--
-- KEYS[1]  sb:scheduled: the delay schedule, member [queue, delivery id] (JSON), score
--          the due time. Read (ZRANGEBYSCORE), written (ZADD, ZREM).
-- KEYS[2]  sb:scheduled:claimed: the claimed entries, scored by when the claim ends.
--          Read (ZRANGEBYSCORE), written (ZADD, ZREM).
-- ARGV[1]  now (Unix seconds)
-- ARGV[2]  when the claims taken now end (Unix seconds)
-- ARGV[3]  how many entries to claim at most
--
-- Returns the claimed members, earliest due first.
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZADD', KEYS[1], ARGV[1], member)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZADD', KEYS[2], ARGV[2], member)
end
return due
