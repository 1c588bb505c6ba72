"""huey's storage interface, for storages written for huey and code that calls
``huey.storage`` directly.

huey's ``BaseStorage`` differs from hueyd's contract (:mod:`hueyd.storage.base`) where
hueyd needs more: ``dequeue()`` returns the message bytes (no lease, no
acknowledgement: huey's at-most-once delivery), schedule methods take datetimes,
``peek_data``/``pop_data`` return :data:`EmptyData` for a missing key and
``peek_many`` a dict. A class that subclasses :class:`BaseStorage` and implements
huey's methods runs under hueyd through an adapter (``hueyd.api.storage_link``).
"""
from __future__ import annotations

import calendar
import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from hueyd.constants import EmptyData

__all__ = ["BaseStorage", "EmptyData", "posix_of"]


def posix_of(ts: dt.datetime | float) -> float:
    """POSIX seconds for a schedule time: a number as is, an aware datetime exactly, a
    naive one read as UTC. huey passes naive datetimes in one clock for both adding and
    reading, so any monotonic reading orders them the same way."""
    if isinstance(ts, (int, float)):
        return float(ts)
    if ts.tzinfo is not None:
        return ts.timestamp()
    return calendar.timegm(ts.timetuple()) + ts.microsecond / 1e6


class BaseStorage:
    """huey 3.5.4's storage interface: subclass it and implement the methods that
    raise :class:`NotImplementedError`; the others have working defaults."""

    #: True when dequeue() waits for a message itself (the consumer does not poll)
    blocking = False
    #: enqueue() honours ``priority``
    priority = True
    #: put_if_empty() honours ``ttl``
    supports_hash_ttl = False

    def __init__(self, name: str = "huey", **storage_kwargs: Any) -> None:
        self.name = name

    def close(self) -> Any:
        """Release connections and handles."""

    # -- queue -----------------------------------------------------------------
    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        raise NotImplementedError

    def dequeue(self) -> bytes | None:
        """Remove and return the next message, or None when the queue is empty."""
        raise NotImplementedError

    def queue_size(self) -> int:
        raise NotImplementedError

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError

    def flush_queue(self) -> None:
        raise NotImplementedError

    # -- schedule --------------------------------------------------------------
    def add_to_schedule(self, data: bytes, ts: dt.datetime) -> None:
        raise NotImplementedError

    def read_schedule(self, ts: dt.datetime) -> list[bytes]:
        """Remove and return every entry due at or before ``ts``."""
        raise NotImplementedError

    def schedule_size(self) -> int:
        raise NotImplementedError

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError

    def flush_schedule(self) -> None:
        raise NotImplementedError

    # -- key/value -------------------------------------------------------------
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        raise NotImplementedError

    def peek_data(self, key: str) -> Any:
        """The value, or :class:`EmptyData`, leaving it in place."""
        raise NotImplementedError

    def pop_data(self, key: str) -> Any:
        """The value, or :class:`EmptyData`, removing it."""
        raise NotImplementedError

    def peek_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The keys that hold a value, with their values."""
        found = {}
        for key in keys:
            value = self.peek_data(key)
            if value is not EmptyData:
                found[key] = value
        return found

    def has_data_for_key(self, key: str) -> bool:
        raise NotImplementedError

    def delete_data(self, key: str) -> bool:
        return self.pop_data(key) is not EmptyData

    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Set ``key`` only if it holds nothing; True if this call set it."""
        if ttl is not None:
            raise NotImplementedError("ttl is not supported by this storage")
        if self.has_data_for_key(key):
            return False
        self.put_data(key, value)
        return True

    def wait_result(self, key: str, timeout: float | None = None, backoff: float = 1.15,
                    max_delay: float = 1.0) -> bool:
        """Poll until ``key`` holds a value (True) or ``timeout`` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while not self.has_data_for_key(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(min(delay, max_delay))
            delay *= backoff
        return True

    def incr(self, key: str, amount: int = 1) -> int:
        """Add ``amount`` to a counter (0 when missing), atomically; the new value."""
        raise NotImplementedError

    def delete_counter(self, key: str) -> None:
        raise NotImplementedError

    def result_store_size(self) -> int:
        raise NotImplementedError

    def result_items(self) -> dict[str, bytes]:
        raise NotImplementedError

    def flush_results(self) -> None:
        raise NotImplementedError

    def flush_counters(self) -> None:
        raise NotImplementedError

    def flush_all(self) -> None:
        self.flush_queue()
        self.flush_schedule()
        self.flush_results()
        self.flush_counters()
