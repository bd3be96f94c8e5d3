-- Look up the reader's entitlement and meter one article view, atomically.
--
-- KEYS[1]  the reader's meter for this period: a set of article ids
-- KEYS[2…] as ARGV[6] says, in this order: the account's entitlement ("<plan> <until>"),
--          the account's gifts given this period (a count), the reader's referral reads
--          this period (a hash: article id -> referral rule number; field "u" when the
--          reader started with the meter used up, which leaves it no referral reads)
-- ARGV[1]  "m" for a metered page, "p" for a premium page (never counted); "u" after it
--          ("mu", "pu") for a new reader who starts with the meter used up
-- ARGV[2]  the article id (a small integer, so the set stays an intset)
-- ARGV[3]  the free-article limit
-- ARGV[4]  seconds until the meter key may expire (end of period plus slack)
-- ARGV[5]  now, unix seconds
-- ARGV[6]  "1" when the reader is signed in (the entitlement key is passed), else "0";
--          then "g" when the gifts key is passed, "r" when the referral key is
-- ARGV[7]  "<rule>:<cap>" when the view came from a referral rule's site, else ""
-- ARGV[8…] article ids this reader read anonymously this period, on first sign-in:
--          merged into KEYS[1] so signing in neither double-counts nor resets the meter
--
-- Returns {outcome, views this period, entitlement status}; outcome is
-- 0 already read, 1 counted, 2 limit used (walled), 3 entitled, 4 premium walled,
-- 5 read free through a referral (not counted).
-- An entitled reader's reply has a fourth element: the entitlement's until (unix seconds),
-- which the paywall keeps in the reader's signed summary for outages; and a fifth, with the
-- gifts key, the gifts the account gave this period.

local flags = ARGV[6]
local signed_in = string.sub(flags, 1, 1) == '1'
local next_key = 2
local ent_key, gifts_key, referral_key
if signed_in then ent_key = KEYS[next_key]; next_key = next_key + 1 end
if string.find(flags, 'g', 2, true) then gifts_key = KEYS[next_key]; next_key = next_key + 1 end
if string.find(flags, 'r', 2, true) then referral_key = KEYS[next_key] end

if #ARGV > 7 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 8))
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
  if referral_key then  -- nor referral reads: else a cleared cookie would buy them again
    redis.call('HSET', referral_key, 'u', '')
    redis.call('EXPIRE', referral_key, ARGV[4])
  end
end

local status = 'none'
if ent_key then
  local ent = redis.call('GET', ent_key)
  if ent then
    local plan, untl = string.match(ent, '^(%a+) (%d+)$')
    if plan then
      if tonumber(untl) > tonumber(ARGV[5]) then
        if gifts_key then
          return {3, 0, plan, tonumber(untl), tonumber(redis.call('GET', gifts_key) or '0')}
        end
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

if referral_key then
  if redis.call('HEXISTS', referral_key, ARGV[2]) == 1 then
    return {0, redis.call('SCARD', KEYS[1]), status}
  end
  local rule, cap = string.match(ARGV[7] or '', '^(%d+):(%d+)$')
  if rule and redis.call('HEXISTS', referral_key, 'u') == 0 then
    local used = 0
    for _, number in ipairs(redis.call('HVALS', referral_key)) do
      if number == rule then used = used + 1 end
    end
    if used < tonumber(cap) then
      redis.call('HSET', referral_key, ARGV[2], rule)
      redis.call('EXPIRE', referral_key, ARGV[4])
      return {5, redis.call('SCARD', KEYS[1]), status}
    end
  end
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
