"""What a huey 3.x RedisHuey or PriorityRedisHuey keeps in Redis, read and removed entry
by entry.

huey's keys for a Huey named NAME (characters other than ``[A-Za-z0-9_]`` dropped,
as huey's ``clean_name`` does): ``huey.redis.NAME`` the queue (a list, oldest at the
right; a sorted set for the priority variant, score ``-priority``, each member
prefixed with 8 bytes of enqueue time), ``huey.schedule.NAME`` (a sorted set scored
by due time) and ``huey.results.NAME`` (a hash: results, revocations, locks, values
put by the app). Removing an entry is one atomic command for that exact member, so
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


class HueySource:
    """huey's keys for the Huey ``name`` on the Redis behind ``pool``."""

    def __init__(self, pool: redis.ConnectionPool, name: str) -> None:
        self.conn = redis.Redis(connection_pool=pool)
        self.location = describe(pool)
        name = clean_name(name)
        self.queue_key = f"huey.redis.{name}"
        self.schedule_key = f"huey.schedule.{name}"
        self.results_key = f"huey.results.{name}"

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
    def values(self) -> dict[str, bytes]:
        """Every field of the results hash (field names decoded, values raw)."""
        return {(k.decode("utf-8", "replace") if isinstance(k, bytes) else k): v
                for k, v in self.conn.hgetall(self.results_key).items()}

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
    def remove_value(self, field: str) -> None:
        self.conn.hdel(self.results_key, field)
