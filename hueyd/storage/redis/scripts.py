"""Lua scripts for the Redis backends, and the key names they work on.

Each script is one atomic step on the server: two schedulers running
``move_due`` at once can never move the same entry twice, and a crash between
"read" and "enqueue" cannot lose one. Every key a script touches is passed in
``KEYS`` and all keys of one storage share a ``{name}`` hash tag, so the
scripts stay valid on a Redis Cluster.

Encodings shared with :mod:`hueyd.storage.redis`:

* schedule member: ``b"<priority>:" + data`` (score = due timestamp), so an
  entry keeps its priority on its way to the queue;
* priority-queue member: 14 hex digits of order + data (score = -priority).
  Order ``2**52 + n`` (``n`` from INCR) keeps FIFO within a priority;
  ``2**52 - n`` puts a requeued message ahead of every waiting one;
* dead letter: one JSON header line (id, ts, reason), ``\\n``, then data;
* in-flight entry (see :mod:`hueyd.storage.redis.lease_scripts`): the queue
  entry itself (list queue) or ``b"<score>:" + member`` (priority queue), so
  it can go back with its priority.

The priority queue has a companion list of wake-up tokens (``queue-wake``):
every push adds one, a waiting worker blocks on it with BLPOP and then takes
the best message with a script. Blocking commands cannot run inside a script,
and a BZPOPMIN would take the message out of Redis before it is recorded as
in flight; a token lost with a crashed worker loses nothing.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from hueyd.storage.base import DeadLetter

#: bytes of order prefix on every priority-queue member
PRIORITY_PREFIX_LEN = 14


def glob_escape(text: str) -> str:
    """``text`` with SCAN's glob characters escaped (a storage name may hold them)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


@dataclass(frozen=True)
class RedisKeys:
    """Key names of one storage: ``hueyd:{<name>}:<part>``."""

    prefix: str
    queue: str
    tail_seq: str
    head_seq: str
    wake: str
    schedule: str
    values: str
    #: hash of revocation entries (keys ``r:`` and ``rt:``), apart from the other values
    #: so that a worker learns with each take, for free, whether there are any at all
    revoked: str
    dead: str
    #: sorted set: consumer id -> lease expiry (server time)
    consumers: str
    #: hash: consumer id -> JSON card (host, pid, started, ...)
    cards: str
    #: hash: sha1 of a message -> deliveries that ended with its consumer's death
    deliveries: str

    @classmethod
    def for_name(cls, name: str) -> RedisKeys:
        prefix = f"hueyd:{{{name}}}"
        return cls(prefix, queue=f"{prefix}:queue", tail_seq=f"{prefix}:queue-tail-seq",
                   head_seq=f"{prefix}:queue-head-seq", wake=f"{prefix}:queue-wake",
                   schedule=f"{prefix}:schedule", values=f"{prefix}:kv", revoked=f"{prefix}:revoked",
                   dead=f"{prefix}:dead",
                   consumers=f"{prefix}:consumers", cards=f"{prefix}:consumer-cards",
                   deliveries=f"{prefix}:deliveries")

    def in_flight(self, consumer_id: str, holder: str) -> str:
        """List of the messages one holder (a thread or greenlet of one process) of a
        consumer has taken."""
        return f"{self.prefix}:inflight:{consumer_id}:{holder}"

    def holders(self, consumer_id: str) -> str:
        """Set of a consumer's in-flight lists."""
        return f"{self.prefix}:holders:{consumer_id}"

    def value(self, key: str) -> str:
        """String key of one value kept outside the ``kv`` hash."""
        return f"{self.prefix}:kv:{key}"

    @property
    def value_prefix(self) -> bytes:
        return self.value("").encode()

    @property
    def value_pattern(self) -> str:
        """SCAN pattern for :meth:`value` keys (glob characters of the name escaped)."""
        return glob_escape(self.value("")) + "*"

    def queue_keys(self) -> list[str]:
        """The keys every pushing script takes first: KEYS[1..4]."""
        return [self.queue, self.tail_seq, self.head_seq, self.wake]


# -- per queue type: ``push``, ``push_head`` and ``from_in_flight`` (entry -> data, priority) --

LIST_PUSH = """
local function push(data, priority)
  redis.call('LPUSH', KEYS[1], data)
end
local function push_head(data, priority)
  redis.call('RPUSH', KEYS[1], data)
end
local function from_in_flight(entry)
  return entry, 0
end
"""

# wake(): one token per push, never more tokens than queued messages
PRIORITY_PUSH = """
local function wake()
  redis.call('LPUSH', KEYS[4], 1)
  local size = redis.call('ZCARD', KEYS[1])
  if redis.call('LLEN', KEYS[4]) > size then
    redis.call('LTRIM', KEYS[4], 0, size - 1)
  end
end
local function push(data, priority)
  local n = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], -priority, string.format('%014x', 4503599627370496 + n) .. data)
  wake()
end
local function push_head(data, priority)
  local n = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[1], -priority, string.format('%014x', 4503599627370496 - n) .. data)
  wake()
end
local function from_in_flight(entry)
  local sep = string.find(entry, ':', 1, true)
  if not sep then
    return entry, 0
  end
  return string.sub(entry, sep + 15), -(tonumber(string.sub(entry, 1, sep - 1)) or 0)
end
"""

# A member that is not ours (no "<priority>:") moves whole, with priority 0, and is
# refused by the worker like any garbage: a script that failed halfway through its
# loop would already have removed the batch from the schedule (Redis does not undo).
SPLIT_SCHEDULED = """
local function split(member)
  local sep = string.find(member, ':', 1, true)
  if not sep then
    return member, 0
  end
  return string.sub(member, sep + 1), tonumber(string.sub(member, 1, sep - 1)) or 0
end
"""

# KEYS: queue keys; ARGV: data, priority
ENQUEUE = "push(ARGV[1], tonumber(ARGV[2]))"

# KEYS: queue keys; ARGV: data, priority, data, priority, ... (pushed in that order)
ENQUEUE_MANY = """
for i = 1, #ARGV, 2 do
  push(ARGV[i], tonumber(ARGV[i + 1]))
end
"""

# KEYS: queue keys; ARGV: data, priority
REQUEUE_HEAD = "push_head(ARGV[1], tonumber(ARGV[2]))"

# Remove up to ARGV[2] entries due at ARGV[1] from the schedule KEYS[1]; return them.
# ZRANGEBYSCORE from -inf returns ranks 0..n-1, so ZREMRANGEBYRANK removes exactly those.
POP_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #due - 1)
end
return due
"""

# KEYS: queue keys, schedule; ARGV: timestamp, batch size. Returns how many moved.
MOVE_DUE = SPLIT_SCHEDULED + """
local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[5], 0, #due - 1)
  for _, member in ipairs(due) do
    local data, priority = split(member)
    push(data, priority)
  end
end
return #due
"""

# KEYS: queue keys, dead-letter list; ARGV: how many (0 = all). Returns how many
# were requeued, oldest first.
REQUEUE_DEAD = """
local letters = redis.call('LRANGE', KEYS[5], 0, tonumber(ARGV[1]) - 1)
for _, letter in ipairs(letters) do
  local sep = string.find(letter, '\\n', 1, true)
  push(sep and string.sub(letter, sep + 1) or letter, 0)
end
redis.call('LTRIM', KEYS[5], #letters, -1)
return #letters
"""

# KEYS: list of dead letters; ARGV: how many (0 = all). Returns how many were purged.
PURGE_DEAD = """
local count = redis.call('LLEN', KEYS[1])
local limit = tonumber(ARGV[1])
if limit > 0 and limit < count then
  count = limit
end
redis.call('LTRIM', KEYS[1], count, -1)
return count
"""

# -- key/value ----------------------------------------------------------------

# KEYS: kv hash, the field's own string key; ARGV: field, value, ttl in ms ('' = none).
# A value with a TTL lives in its own string key, so Redis itself expires it.
PUT_IF_EMPTY = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
if ARGV[3] == '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
else
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
return 1
"""

# The count of a fixed window (rate limits), read and written in one step.
# ``get()``/``put(v)`` are the layout's (hash field or string key); ARGV: field,
# window, amount. The value is "<window>:<count>"; another window's count is 0.
COUNT_IN_WINDOW = """
local count = 0
local stored = get()
if stored then
  local window, n = string.match(stored, '^(-?%d+):(%d+)$')
  if window == ARGV[2] then count = tonumber(n) end
end
count = count + tonumber(ARGV[3])
if tonumber(ARGV[3]) ~= 0 then put(ARGV[2] .. ':' .. string.format('%d', count)) end
return count
"""
# KEYS: kv hash
HASH_FIELD = """
local function get() return redis.call('HGET', KEYS[1], ARGV[1]) end
local function put(v) redis.call('HSET', KEYS[1], ARGV[1], v) end
"""
# KEYS: the value's string key
STRING_KEY = """
local function get() return redis.call('GET', KEYS[1]) end
local function put(v) redis.call('SET', KEYS[1], v) end
"""

# KEYS: kv hash, the field's own string key; ARGV: field.
POP_VALUE = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return value
end
value = redis.call('GET', KEYS[2])
if value then
  redis.call('DEL', KEYS[2])
end
return value
"""

# KEYS: one string key. A value that expires on its own (a result of
# RedisExpireStorage) stays readable until then; any other value is removed.
POP_UNLESS_EXPIRING = """
local value = redis.call('GET', KEYS[1])
if value and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('DEL', KEYS[1])
end
return value
"""


def queue_script(push: str, body: str) -> str:
    """A script that pushes to the queue the way ``push`` (LIST_PUSH or PRIORITY_PUSH) does."""
    return push + body


def letter(data: bytes, reason: str, ts: float) -> bytes:
    """A dead-letter entry: its JSON header line, then the message."""
    header = json.dumps({"id": uuid.uuid4().hex, "ts": ts, "reason": reason})
    return header.encode() + b"\n" + data


def dead_letter(entry: bytes) -> DeadLetter:
    """The dead letter in an entry; one that is not ours (written by someone else with
    access to Redis) is shown whole, as unreadable, rather than failing the listing."""
    header, _, data = entry.partition(b"\n")
    try:
        meta = json.loads(header)
        return DeadLetter(data, str(meta["reason"]), float(meta["ts"]), str(meta["id"]))
    except (ValueError, TypeError, KeyError):
        return DeadLetter(entry, "unreadable dead-letter entry", 0.0, "")


def scheduled_data(member: bytes) -> bytes:
    """The message inside a schedule member (``b"<priority>:" + data``); a member
    that is not ours is taken whole (and refused as garbage when it is read)."""
    _, sep, data = member.partition(b":")
    return data if sep else member
