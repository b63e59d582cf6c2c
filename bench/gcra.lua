-- GCRA in Lua, the way users rate-limit on Redis without a module:
-- KEYS[1], ARGV = max_burst, count, period (s), quantity.
-- Same reply shape as CL.THROTTLE; the state is the TAT in microseconds.
local burst, count, period, qty = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local interval = period * 1000000 / count
local tau = interval * (burst + 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval * qty
local allow_at = new_tat - tau
if now < allow_at then
  local retry = -1
  if interval * qty <= tau then retry = math.ceil((allow_at - now) / 1000000) end
  return {1, burst + 1, math.max(0, math.floor((tau - (tat - now)) / interval)), retry, math.ceil((tat - now) / 1000000)}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return {0, burst + 1, math.floor((tau - (new_tat - now)) / interval), -1, math.ceil((new_tat - now) / 1000000)}
