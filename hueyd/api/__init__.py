"""huey's public API (the task library): ``from huey.api import X`` ports as
``from hueyd.api import X``. Names load on first use (PEP 562), as :mod:`hueyd`'s do;
every name :mod:`hueyd` exports is one of them too."""
from __future__ import annotations

from hueyd import lazy

#: public name -> module that defines it (``module:name`` where hueyd names it otherwise)
_EXPORTS = {
    "ChordResult": "hueyd.api.result",
    "RateLimit": "hueyd.api.ratelimit",
    "Registry": "hueyd.api.registry",
    "ChordConfig": "hueyd.api.registry",
    "Serializer": "hueyd.api.serializer",
    "EmptyData": "hueyd.constants",
    "RETRYING_EXCEPTIONS": "hueyd.api.exceptions",
    "TaskTimeout": "hueyd.api.exceptions",
    "normalize_time": "hueyd.api.clock",
    "normalize_expire_time": "hueyd.api.clock:normalize_expires",
    "utcnow": "hueyd.api.clock",
    "noop_context": "contextlib:nullcontext",
    "Consumer": "hueyd.consumer",
    # (the last three once issue 16's storages add them to hueyd.storage)
    **{name: "hueyd.storage" for name in (
        "MemoryStorage", "SqliteStorage", "RedisStorage", "RedisExpireStorage",
        "PriorityRedisStorage", "PriorityRedisExpireStorage", "BlackHoleStorage",
        "FileStorage", "PostgresStorage")},
}

__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS, fallback="hueyd")
