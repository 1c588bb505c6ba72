"""What a huey 3.x RedisHuey or PriorityRedisHuey (or their -Expire variants) keeps in
Redis, read and removed entry by entry.

huey's keys for a Huey named NAME (characters other than ``[A-Za-z0-9_]`` dropped,
as huey's ``clean_name`` does): ``huey.redis.NAME`` the queue (a list, oldest at the
right; a sorted set for the priority variant, score ``-priority``, each member
prefixed with 8 bytes of enqueue time), ``huey.schedule.NAME`` (a sorted set scored
by due time) and ``huey.results.NAME`` (a hash: results, revocations, locks, values
put by the app; the -Expire variants keep each of these in a string key
``huey.r.NAME.<key>`` instead). Removing an entry is one atomic command for that exact member, so
an entry is either still in huey's keys or gone from them, never half-moved. Redis
errors become StorageError as everywhere else (``translate_errors``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import redis

from hueyd.storage.redis.client import describe, translate_errors

#: bytes of enqueue-time prefix on a huey priority-queue member
PRIORITY_PREFIX = 8


def clean_name(name: str) -> str:
    return re.sub("[^A-Za-z0-9_]", "", name)


@dataclass(frozen=True)
class Entry:
    """One member of huey's queue or schedule: the raw member and the message bytes in it."""

    member: bytes
    data: bytes
    score: float | None = None


@dataclass(frozen=True)
class Value:
    """One entry of huey's key/value store: its key, its bytes, and the string key that
    holds it (the -Expire variants) or None (a field of the results hash)."""

    key: str
    data: bytes
    string_key: bytes | None = None


class HueySource:
    """huey's keys for the Huey ``name`` on the Redis behind ``pool``."""

    def __init__(self, pool: redis.ConnectionPool, name: str) -> None:
        # what translate_errors reads: the pool, the client, where it points
        self.pool, self.conn, self.location = pool, redis.Redis(connection_pool=pool), describe(pool)
        name = clean_name(name)
        self.queue_key = f"huey.redis.{name}"
        self.schedule_key = f"huey.schedule.{name}"
        self.results_key = f"huey.results.{name}"
        self.value_prefix = f"huey.r.{name}.".encode()

    @translate_errors
    def ping(self) -> None:
        self.conn.ping()

    @translate_errors
    def queued(self) -> list[Entry]:
        """The queue, next-to-run first (huey's list pops from the right)."""
        kind = self.conn.type(self.queue_key)
        if kind in (b"zset", "zset"):
            members = self.conn.zrange(self.queue_key, 0, -1, withscores=True)
            return [Entry(m, m[PRIORITY_PREFIX:], s) for m, s in members]
        return [Entry(m, m) for m in reversed(self.conn.lrange(self.queue_key, 0, -1))]

    @translate_errors
    def scheduled(self) -> list[Entry]:
        return [Entry(m, m, s)
                for m, s in self.conn.zrange(self.schedule_key, 0, -1, withscores=True)]

    @translate_errors
    def values(self) -> list[Value]:
        """Every field of the results hash, then every ``huey.r.NAME.*`` string key."""
        found = [Value(_text(k), v) for k, v in self.conn.hgetall(self.results_key).items()]
        for string_key in self.conn.scan_iter(match=self.value_prefix + b"*", count=1000):
            data = self.conn.get(string_key)
            if data is not None:  # expired since the scan saw it
                found.append(Value(_text(string_key[len(self.value_prefix):]), data,
                                   string_key))
        return found

    @translate_errors
    def remove_queued(self, entry: Entry) -> None:
        if entry.score is None:
            self.conn.lrem(self.queue_key, -1, entry.member)  # the oldest copy
        else:
            self.conn.zrem(self.queue_key, entry.member)

    @translate_errors
    def remove_scheduled(self, entry: Entry) -> None:
        self.conn.zrem(self.schedule_key, entry.member)

    @translate_errors
    def remove_value(self, value: Value) -> None:
        if value.string_key is None:
            self.conn.hdel(self.results_key, value.key)
        else:
            self.conn.delete(value.string_key)


def _text(key: bytes | str) -> str:
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else key
