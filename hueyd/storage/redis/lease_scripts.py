"""Lua scripts for at-least-once delivery on Redis: in-flight lists and leases.

A dequeued message moves, in one server-side step, from the queue to the
in-flight list of its consumer (``hueyd:{name}:inflight:<consumer id>``). It
leaves that list when acknowledged, or goes back to the head of the queue when
handed back (one message, or all at stop_consuming) or when its consumer's lease
runs out (recover). Each script is atomic, so a message is never in two places and
never in none. Lease times are the server's (``TIME``): consumers on machines
with skewed clocks still agree on who has expired.

Every script is prefixed with a queue type's ``push``/``push_head``/
``from_in_flight`` (:data:`~hueyd.storage.redis.scripts.LIST_PUSH` or
``PRIORITY_PUSH``) and takes the queue keys as KEYS[1..4].
"""
from __future__ import annotations

# Server time as a number of seconds, in any script that needs it.
SERVER_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
"""

# Priority queue, non-blocking take. KEYS: queue keys, in-flight list.
# Returns the in-flight entry ("<score>:<member>") or nil.
PRIORITY_TAKE = """
local popped = redis.call('ZPOPMIN', KEYS[1])
if popped[1] == nil then
  redis.call('DEL', KEYS[4])
  return false
end
local entry = popped[2] .. ':' .. popped[1]
redis.call('LPUSH', KEYS[5], entry)
local size = redis.call('ZCARD', KEYS[1])
if size == 0 then
  redis.call('DEL', KEYS[4])
elseif redis.call('LLEN', KEYS[4]) > size then
  redis.call('LTRIM', KEYS[4], 0, size - 1)
end
return entry
"""

# KEYS: queue keys, in-flight list; ARGV: entry. A message no longer in flight
# (acked, or already taken back by a recovery) is not pushed a second time.
HAND_BACK_ONE = """
if redis.call('LREM', KEYS[5], 1, ARGV[1]) == 0 then
  return 0
end
local data, priority = from_in_flight(ARGV[1])
push_head(data, priority)
return 1
"""

# KEYS: consumers zset, cards hash; ARGV: consumer id, lease seconds, card JSON.
RENEW = SERVER_NOW + """
redis.call('ZADD', KEYS[1], string.format('%.6f', now + tonumber(ARGV[2])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return string.format('%.6f', now)
"""

# Back to the head of the queue in their original order: the list holds the
# newest entry first, so pushing each to the head leaves the oldest in front.
RETURN_ALL = """
local function return_all(list)
  local entries = redis.call('LRANGE', list, 0, -1)
  for _, entry in ipairs(entries) do
    local data, priority = from_in_flight(entry)
    push_head(data, priority)
  end
  redis.call('DEL', list)
  return #entries
end
"""

# KEYS: queue keys, consumers, cards, the consumer's set of lists, then its
# in-flight lists; ARGV: consumer id. Returns how many messages went back.
RELEASE = RETURN_ALL + """
local count = 0
for i = 8, #KEYS do
  count = count + return_all(KEYS[i])
end
redis.call('DEL', KEYS[7])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
return count
"""

# KEYS: queue keys, the consumer's set of lists, then the lists of one worker process
# that died. Returns how many messages went back.
HAND_BACK = RETURN_ALL + """
local count = 0
for i = 6, #KEYS do
  count = count + return_all(KEYS[i])
  redis.call('SREM', KEYS[5], KEYS[i])
end
return count
"""

# KEYS: queue keys, consumers, cards, deliveries, dead letters, then per candidate
# consumer its set of lists followed by those lists; ARGV: max deliveries,
# dead-letter reason, then (consumer id, forced, number of lists) per candidate.
# A candidate is taken back if its lease has run out (checked here, atomically),
# it has none, or ``forced`` is 1 (its process is known to be gone). Each message's
# count of deaths goes up by one; at ``max deliveries`` it goes to the dead letters
# instead of the queue. Returns {requeued, dead-lettered, consumers taken back}.
RECOVER = SERVER_NOW + """
local max = tonumber(ARGV[1])
local requeued, dead, taken = 0, 0, 0
local k, c = 9, 3
while c <= #ARGV do
  local id, forced, lists = ARGV[c], ARGV[c + 1] == '1', tonumber(ARGV[c + 2])
  local expires = redis.call('ZSCORE', KEYS[5], id)
  if forced or not expires or tonumber(expires) < now then
    for j = 1, lists do
      local entries = redis.call('LRANGE', KEYS[k + j], 0, -1)
      for n, entry in ipairs(entries) do
        local data, priority = from_in_flight(entry)
        local digest = redis.sha1hex(data)
        local count = redis.call('HINCRBY', KEYS[7], digest, 1)
        if count >= max then
          redis.call('HDEL', KEYS[7], digest)
          local letter = redis.sha1hex(digest .. KEYS[k + j] .. n .. now)
          local header = cjson.encode({id = string.sub(letter, 1, 32), ts = now,
                                       reason = ARGV[2]})
          redis.call('RPUSH', KEYS[8], header .. '\\n' .. data)
          dead = dead + 1
        else
          push_head(data, priority)
          requeued = requeued + 1
        end
      end
      redis.call('DEL', KEYS[k + j])
    end
    redis.call('DEL', KEYS[k])
    redis.call('ZREM', KEYS[5], id)
    redis.call('HDEL', KEYS[6], id)
    taken = taken + 1
  end
  k = k + 1 + lists
  c = c + 3
end
return {requeued, dead, taken}
"""


#: Acknowledge one message. KEYS: its in-flight list, the deliveries hash, then for each
#: key to forget its hash and its string key; ARGV: the entry, the message's sha1, the
#: keys to forget. A message its list no longer holds changes nothing (returns 0): a
#: recovery gave it to another consumer, or a Sentinel failover lost the take (the new
#: master has it queued again), and its count of deaths and its revoke-once entry
#: belong to the run still to come.
FINISH = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call('HDEL', KEYS[2], ARGV[2])
for i = 3, #ARGV do
    redis.call('HDEL', KEYS[2 * i - 3], ARGV[i])
    redis.call('DEL', KEYS[2 * i - 2])
end
return 1
"""

#: Set a held message aside. KEYS: its in-flight list, the deliveries hash, the dead
#: letters; ARGV: the entry, the message's sha1, the dead letter (header line + data).
#: The LREM comes first: once a script has written, Redis lets it finish even at
#: ``maxmemory`` (atomicity), so a message can leave a full server's in-flight list
#: for the dead letters, where a plain RPUSH is refused. Returns 0 if the message was
#: no longer held (acknowledged, or taken back by a recovery): nothing is added.
SET_ASIDE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
"""
