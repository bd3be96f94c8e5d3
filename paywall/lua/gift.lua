-- Give one gift link: check the account's plan may gift, count it against the period's quota.
--
-- KEYS[1]  the account's entitlement, "<plan> <until-unix-seconds>" (as meter.lua reads it)
-- KEYS[2]  the account's gifts this period (a count; the same hash tag as KEYS[1])
-- ARGV[1]  now, unix seconds
-- ARGV[2]  gifts per period
-- ARGV[3]  seconds until the count may expire (end of period plus slack)
-- ARGV[4]  the plans that may gift, space-separated ("trial subscription")
--
-- Returns {0, given} a gift counted (given: this period's, this one included);
-- {1, 0} no active plan that may gift; {2, given} the period's gifts are used up.

local ent = redis.call('GET', KEYS[1])
local plan, untl
if ent then plan, untl = string.match(ent, '^(%a+) (%d+)$') end
if not plan or tonumber(untl) <= tonumber(ARGV[1])
    or not string.find(' ' .. ARGV[4] .. ' ', ' ' .. plan .. ' ', 1, true) then
  return {1, 0}
end
local given = tonumber(redis.call('GET', KEYS[2]) or '0')
if given >= tonumber(ARGV[2]) then
  return {2, given}
end
given = redis.call('INCR', KEYS[2])
if given == 1 then
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return {0, given}
