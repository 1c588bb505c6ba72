"""Durable writes (opt-in): an enqueue, a schedule entry and an acknowledgement return
only once ``N`` replicas have them, or a timeout passed (Redis ``WAIT``).

Replication is asynchronous: a write the master acknowledged just before it died may
be missing on the replica Sentinel promotes. ``WAIT`` narrows that window to the
writes of the last round trip; it does not close it (the master may die after the
write and before the replica's copy, and a WAIT that times out has still written).
Turned on with ``durable=N`` (and ``durable_timeout=MS``, default 1000) as storage
keywords or in the URL's query (``redis+sentinel://.../SERVICE?durable=1``). A write
not confirmed in time is logged (rate-limited), not retried: a retry would queue the
task twice.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from hueyd.ratelog import RateLimitedLog
from hueyd.storage.redis.wire import pack

#: the query options of a URL that are hueyd's, not redis-py's
OPTIONS = ("durable", "durable_timeout")
#: seconds between two looks at how many replicas the master has
LOOK_EVERY = 1.0
UNCONFIRMED = RateLimitedLog(logging.getLogger("hueyd.storage"), level=logging.WARNING)


class Durability:
    """How many replicas a write waits for (0: none, the default) and for how long.

    A master with fewer replicas connected than asked for (its replica is the one that
    died, or was promoted) is not waited on: every write would take the whole timeout.
    Whether it has them is read from ``INFO replication`` at most once a second."""

    def __init__(self, replicas: int = 0, timeout_ms: int = 1000) -> None:
        if replicas < 0 or timeout_ms <= 0:
            raise ValueError(f"durable needs replicas >= 0 and durable_timeout > 0 ms, got "
                             f"{replicas} and {timeout_ms}")
        self.replicas, self.timeout_ms = replicas, timeout_ms
        self.packed_wait = pack("WAIT", replicas, timeout_ms)
        self._connected, self._next_look = 0, 0.0

    def waits(self, conn: Any) -> bool:
        """Whether a write should WAIT now (durable, and enough replicas connected)."""
        if not self.replicas:
            return False
        now = time.monotonic()
        if now >= self._next_look:
            self._next_look = now + LOOK_EVERY
            self._connected = int(conn.info("replication").get("connected_slaves", 0))
        if self._connected < self.replicas:
            UNCONFIRMED.error("durable: the master has %d of %d replica(s) connected; "
                              "writes are not confirmed until it has them",
                              self._connected, self.replicas)
            return False
        return True

    def run(self, conn: Any, write: Callable[[Any], Any], what: str) -> Any:
        """``write(client)`` then, when durable, WAIT on the same connection (a
        pipeline): WAIT counts the replicas that have this connection's writes."""
        if not self.waits(conn):
            return write(conn)
        pipe = conn.pipeline(transaction=False)
        write(pipe)
        pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
        *replies, acked = pipe.execute()
        self.confirmed(acked, what)
        return replies[0]

    def confirmed(self, acked: int, what: str) -> None:
        """Log a write that WAIT saw reach fewer replicas than asked for."""
        if acked < self.replicas:
            UNCONFIRMED.error("durable: %s confirmed by %d of %d replica(s) within %d ms; "
                              "a failover now could lose it", what, acked, self.replicas,
                              self.timeout_ms)


def _number(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None


def split_url(url: str | None, params: dict[str, Any]) -> tuple[str | None, Durability]:
    """``url`` without hueyd's query options, and the durability they (or the storage
    keywords ``durable`` / ``durable_timeout``, taken out of ``params``) ask for; the
    URL's win."""
    replicas, timeout_ms = params.pop("durable", None), params.pop("durable_timeout", None)
    kept: list[str] = []
    if url and "?" in url:
        head, _, query = url.partition("?")
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key == "durable":
                replicas = value
            elif key == "durable_timeout":
                timeout_ms = value
            elif part:
                kept.append(part)
        url = f"{head}?{'&'.join(kept)}" if kept else head
    return url, Durability(_number("durable", replicas or 0),
                           _number("durable_timeout", timeout_ms or 1000))
