-- Apply one billing event to one account, exactly once and in order, atomically.
--
-- KEYS[1]  the event's marker: its result, expiring after ARGV[7] seconds
-- KEYS[2]  the account's billing hash: field "sub:ID" = "c1 c2 c3 c4 final plan until"
--          (the order key of the last event applied, "1" once canceled, the plan or "-",
--          unix seconds)
-- KEYS[3]  the account's entitlement, "<plan> <until>" (what meter.lua reads)
-- ARGV[1]  op: set | grace | extend | fail | lapse | none | provisional (of a subscription),
--          grant (the account's entitlement itself: ARGV[3] "" revokes), mark (nothing)
-- ARGV[2]  the subscription id ("" for grant)
-- ARGV[3]  plan ("" none); for grace, fail and lapse used only for a subscription never seen
-- ARGV[4]  until, unix seconds
-- ARGV[5]  the order key, "c1 c2 c3 c4": created, ended_at, period end, stage
-- ARGV[6]  "1" when the event ends the subscription for good
-- ARGV[7]  seconds to remember the event id (0: not an event, nothing to remember)
--
-- Returns {result, plan, until} of the account after it; result is "applied", "stale"
-- (older than what was applied, or the subscription has ended: recorded, changes nothing)
-- or "duplicate" (this event id was seen: nothing happens at all).

local function account_entitlement()
  local ent = redis.call('GET', KEYS[3])
  if not ent then return {'', 0} end
  local plan, untl = string.match(ent, '^(%a+) (%d+)$')
  return {plan or '', tonumber(untl or 0)}
end

local remember = tonumber(ARGV[7])
if remember > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  local now = account_entitlement()
  return {'duplicate', now[1], now[2]}
end

local function numbers(text)
  local out = {}
  for part in string.gmatch(text, '%S+') do out[#out + 1] = part end
  return out
end

local function older(a, b)  -- order keys as lists of 4 numbers
  for i = 1, 4 do
    local x, y = tonumber(a[i]), tonumber(b[i])
    if x ~= y then return x < y end
  end
  return false
end

local op = ARGV[1]
local result = 'applied'
if op == 'grant' then
  if ARGV[3] == '' then
    redis.call('DEL', KEYS[3])
  else
    redis.call('SET', KEYS[3], ARGV[3] .. ' ' .. ARGV[4])
  end
elseif op ~= 'mark' then
  local field = 'sub:' .. ARGV[2]
  local raw = redis.call('HGET', KEYS[2], field)
  local old = raw and numbers(raw)
  local key = numbers(ARGV[5])
  if old and (old[5] == '1' or op == 'provisional' or older(key, old)) then
    result = 'stale'
  else
    local plan, untl = ARGV[3], tonumber(ARGV[4])
    if old then
      local held, held_until = old[6], tonumber(old[7])
      if held == '-' then held = '' end
      if op == 'grace' or op == 'fail' or op == 'lapse' then plan = held end
      if held ~= '' and (op == 'fail' or op == 'lapse') then untl = math.min(untl, held_until) end
      if held ~= '' and op == 'extend' then untl = math.max(untl, held_until) end
    end
    if op == 'provisional' then key = {0, 0, 0, 0} end
    if plan == '' then untl = 0 end
    redis.call('HSET', KEYS[2], field, table.concat(key, ' ') .. ' ' .. ARGV[6] .. ' '
      .. (plan == '' and '-' or plan) .. ' ' .. untl)
    -- The account's entitlement: its subscription that gives access longest.
    local best, best_until = nil, -1
    local all = redis.call('HGETALL', KEYS[2])
    for i = 1, #all, 2 do
      if string.sub(all[i], 1, 4) == 'sub:' then
        local p, u = string.match(all[i + 1], ' (%S+) (%d+)$')
        if p and p ~= '-' and tonumber(u) > best_until then best, best_until = p, tonumber(u) end
      end
    end
    if best then
      redis.call('SET', KEYS[3], best .. ' ' .. best_until)
    else
      redis.call('DEL', KEYS[3])
    end
  end
end
if remember > 0 then redis.call('SET', KEYS[1], result, 'EX', remember) end
local now = account_entitlement()
return {result, now[1], now[2]}
