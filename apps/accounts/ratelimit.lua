-- A token bucket (apps/accounts/ratelimit.py, take): `rate` tokens a second refill it up to
-- `burst`; a request takes `cost` tokens if the bucket holds them (cost 0 only asks
-- whether one is left). The clock is Redis's own (TIME), so every web process on every
-- host shares one bucket and one clock.
--
-- KEYS[1]  sb:ratelimit:<kind>:<who>: hash {tokens, at (Unix seconds)}. Read (HMGET),
--          written (HSET), expiring (EXPIRE) once a full bucket would have refilled.
-- ARGV[1]  rate: tokens added a second
-- ARGV[2]  burst: the bucket's size
-- ARGV[3]  cost: tokens this request takes (0: take none, only check that one is left)
--
-- Returns {allowed (1 or 0), milliseconds until `max(cost, 1)` tokens are there (0 if allowed)}.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local need = math.max(cost, 1)
if tokens < need then
  return {0, math.ceil((need - tokens) / rate * 1000)}
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {1, 0}
