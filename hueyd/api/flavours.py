"""Huey bound to a storage backend, under huey's class names.

Backends are named as ``"module:Class"`` strings and imported when the first
instance is built, so importing this module never imports redis.
"""
from __future__ import annotations

from hueyd.api.huey import Huey


class MemoryHuey(Huey):
    """In-process storage: tests, scripts, thread/greenlet workers only."""

    storage_class = "hueyd.storage.memory:MemoryStorage"


class SqliteHuey(Huey):
    """One machine, no broker: ``SqliteHuey('app', filename='/var/lib/app/huey.db')``."""

    storage_class = "hueyd.storage.sqlite:SqliteStorage"


class RedisHuey(Huey):
    """Production: ``RedisHuey('app', url='redis://...')`` or host=/port=/db=/connection_pool=."""

    storage_class = "hueyd.storage.redis:RedisStorage"


class RedisExpireHuey(RedisHuey):
    """Redis, with results that expire (``expire_time=`` seconds)."""

    storage_class = "hueyd.storage.redis:RedisExpireStorage"


class PriorityRedisHuey(RedisHuey):
    """Redis, where higher-priority tasks run first."""

    storage_class = "hueyd.storage.redis:PriorityRedisStorage"


class PriorityRedisExpireHuey(RedisHuey):
    """Redis with priorities and expiring results."""

    storage_class = "hueyd.storage.redis:PriorityRedisExpireStorage"


class FileHuey(Huey):
    """A folder: ``FileHuey('app', path='/var/lib/app/queue')`` (flock between processes)."""

    storage_class = "hueyd.storage.file:FileStorage"


class BlackHoleHuey(Huey):
    """Stores nothing: every task and result vanishes."""

    storage_class = "hueyd.storage.blackhole:BlackHoleStorage"


class PostgresHuey(Huey):
    """PostgreSQL (psycopg2): ``PostgresHuey('app', dsn='dbname=app')``."""

    storage_class = "hueyd.storage.postgres:PostgresStorage"
