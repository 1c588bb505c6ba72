"""Redis backends: one storage assembled from parts, one module per part.

``client`` (pools, errors), ``wire`` (hand-packed RESP batches), ``scripts`` and
``lease_scripts`` (Lua and key names), ``leases`` (in-flight lists, recovery),
``values`` (results, revocations, locks), ``storage`` (the backends users name).
"""
from __future__ import annotations

from hueyd.storage.redis.queues import InFlight
from hueyd.storage.redis.storage import (
                                         PriorityRedisExpireStorage,
                                         PriorityRedisStorage,
                                         RedisExpireStorage,
                                         RedisStorage,
)

__all__ = ["InFlight", "PriorityRedisExpireStorage", "PriorityRedisStorage",
           "RedisExpireStorage", "RedisStorage"]
