"""hueyd: huey's task API plus a systemd-native consumer daemon.

``from huey import RedisHuey, crontab`` ports as ``from hueyd import RedisHuey, crontab``.
Names load on first access (PEP 562): ``import hueyd`` imports nothing else, so the
command line can monkey-patch for gevent before redis, threading or the app load.
``hueyd.instance("blog")`` gives a producer the app's Huey as ``hueyd@blog`` uses it.
"""
from __future__ import annotations

from hueyd import lazy

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "Huey": "hueyd.api.huey",
    "MemoryHuey": "hueyd.api.flavours",
    "SqliteHuey": "hueyd.api.flavours",
    "RedisHuey": "hueyd.api.flavours",
    "RedisExpireHuey": "hueyd.api.flavours",
    "PriorityRedisHuey": "hueyd.api.flavours",
    "PriorityRedisExpireHuey": "hueyd.api.flavours",
    "FileHuey": "hueyd.api.flavours",
    "BlackHoleHuey": "hueyd.api.flavours",
    "PostgresHuey": "hueyd.api.flavours",
    "crontab": "hueyd.api.cron",
    "group": "hueyd.api.pipeline",
    "chord": "hueyd.api.pipeline",
    "Task": "hueyd.api.task",
    "PeriodicTask": "hueyd.api.task",
    "TaskWrapper": "hueyd.api.task",
    "Result": "hueyd.api.result",
    "ResultGroup": "hueyd.api.result",
    "Error": "hueyd.api.result",
    "SKIPPED": "hueyd.api.result",
    "TaskLock": "hueyd.api.locks",
    "CancelExecution": "hueyd.api.exceptions",
    "RetryTask": "hueyd.api.exceptions",
    "TaskException": "hueyd.api.exceptions",
    "TaskLockedException": "hueyd.api.exceptions",
    "ConfigurationError": "hueyd.api.exceptions",
    "HueyException": "hueyd.api.exceptions",
    "EnqueueManyError": "hueyd.api.exceptions",
    "ResultTimeout": "hueyd.api.exceptions",
    "MessageError": "hueyd.api.exceptions",
    "RateLimitExceeded": "hueyd.api.exceptions",
    # producers: the daemon's view of the app (storage overrides, signing key)
    "instance": "hueyd.daemon.producer",
    "ConfigError": "hueyd.daemon.config",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS)
