"""Storage backends behind one contract (:mod:`hueyd.storage.base`).

Backends load on first use (PEP 562), so importing this package never imports
redis or sqlite3: the daemon may still have to monkey-patch for gevent.
"""
from __future__ import annotations

from hueyd import lazy
from hueyd.constants import EmptyData
from hueyd.storage.base import (
    DeadLetter,
    Message,
    Storage,
    StorageError,
    StorageRefused,
    StorageUnusable,
)
from hueyd.storage.huey_base import BaseStorage

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

#: huey.storage's other names: ``from huey.storage import EmptyData`` works there
HUEY_NAMES = {"ConfigurationError": "hueyd.api.exceptions"}

__all__ = ["BaseStorage", "DeadLetter", "EmptyData", "Message", "Storage", "StorageError", "StorageRefused",
           "StorageUnusable", *BACKENDS, *HUEY_NAMES]

__getattr__, __dir__ = lazy.exports(__name__, {**BACKENDS, **HUEY_NAMES})
