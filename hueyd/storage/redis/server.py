"""What every part of a Redis storage talks through: one client, its pool, the key
names and the server's address for error lines (:func:`~hueyd.storage.redis.client.
translate_errors` reads ``location`` from the object whose method failed)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hueyd.storage.redis.durable import Durability

if TYPE_CHECKING:  # pragma: no cover
    import redis

    from hueyd.storage.redis.scripts import RedisKeys


@dataclass(frozen=True)
class Server:
    """The connection a storage built, shared by its parts (queue, values)."""

    conn: redis.Redis
    pool: redis.ConnectionPool
    keys: RedisKeys
    location: str
    #: how many replicas enqueues and acknowledgements wait for (opt-in)
    durability: Durability = field(default_factory=Durability)


class Part:
    """A piece of a Redis storage: talks to the server its storage connected to."""

    def __init__(self, server: Server) -> None:
        self.conn, self.pool, self.keys = server.conn, server.pool, server.keys
        self.location = server.location
        self.durability = server.durability
