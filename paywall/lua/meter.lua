-- Look up the reader's entitlement and meter one article view, atomically.
--
-- KEYS[1]  the reader's meter for this period: a set of article ids
-- KEYS[2]  signed-in readers only: the account's entitlement, "<plan> <until-unix-seconds>"
-- ARGV[1]  "m" for a metered page, "p" for a premium page (never counted); "u" after it
--          ("mu", "pu") for a new reader who starts with the meter used up
-- ARGV[2]  the article id (a small integer, so the set stays an intset)
-- ARGV[3]  the free-article limit
-- ARGV[4]  seconds until the meter key may expire (end of period plus slack)
-- ARGV[5]  now, unix seconds
-- ARGV[6]  "1" when the reader is signed in (KEYS[2] is meaningful)
-- ARGV[7…] article ids this reader read anonymously this period, on first sign-in:
--          merged into KEYS[1] so signing in neither double-counts nor resets the meter
--
-- Returns {outcome, views this period, entitlement status}; outcome is
-- 0 already read, 1 counted, 2 limit used (walled), 3 entitled, 4 premium walled.
-- An entitled reader's reply has a fourth element: the entitlement's until (unix seconds),
-- which the paywall keeps in the reader's signed summary for outages.

if #ARGV > 6 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 7))
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end

local mode = string.sub(ARGV[1], 1, 1)
if string.sub(ARGV[1], 2, 2) == 'u' and redis.call('EXISTS', KEYS[1]) == 0 then
  local used = {}
  for i = 1, tonumber(ARGV[3]) do used[i] = -i end
  if #used > 0 then
    redis.call('SADD', KEYS[1], unpack(used))
    redis.call('EXPIRE', KEYS[1], ARGV[4])
  end
end

local status = 'none'
if ARGV[6] == '1' then
  local ent = redis.call('GET', KEYS[2])
  if ent then
    local plan, untl = string.match(ent, '^(%a+) (%d+)$')
    if plan then
      if tonumber(untl) > tonumber(ARGV[5]) then
        return {3, 0, plan, tonumber(untl)}
      end
      if plan == 'trial' then status = 'trial_expired' else status = 'access_expired' end
    end
  end
end

if mode == 'p' then
  return {4, 0, status}
end

if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 1 then
  return {0, redis.call('SCARD', KEYS[1]), status}
end

local views = redis.call('SCARD', KEYS[1])
if views >= tonumber(ARGV[3]) then
  return {2, views, status}
end

redis.call('SADD', KEYS[1], ARGV[2])
if views == 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return {1, views + 1, status}
