"""Storage backends behind one contract (:mod:`hueyd.storage.base`).

Backends load on first use (PEP 562), so importing this package never imports
redis or sqlite3: the daemon may still have to monkey-patch for gevent.
"""
from __future__ import annotations

import importlib
from typing import Any

from hueyd.storage.base import (
    DeadLetter,
    Message,
    Storage,
    StorageError,
    StorageRefused,
    StorageUnusable,
)
from hueyd.storage.huey_base import BaseStorage, EmptyData

#: public name -> module that defines it
BACKENDS = {
    "MemoryStorage": "hueyd.storage.memory",
    "SqliteStorage": "hueyd.storage.sqlite",
    "RedisStorage": "hueyd.storage.redis",
    "PriorityRedisStorage": "hueyd.storage.redis",
    "RedisExpireStorage": "hueyd.storage.redis",
    "PriorityRedisExpireStorage": "hueyd.storage.redis",
    "FileStorage": "hueyd.storage.file",
    "FileLock": "hueyd.storage.file",
    "BlackHoleStorage": "hueyd.storage.blackhole",
    "PostgresStorage": "hueyd.storage.postgres",
}

__all__ = ["BaseStorage", "DeadLetter", "EmptyData", "Message", "Storage", "StorageError",
           "StorageRefused", "StorageUnusable", *BACKENDS]


def __getattr__(name: str) -> Any:
    module = BACKENDS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
