"""hueyd's storage contract over a storage written for huey (huey's interface:
:class:`hueyd.storage.BaseStorage`), so ``Huey(storage_class=MyStorage)`` runs under
``hueyd run``.

huey's interface has no leases and no acknowledgement: a message leaves the queue
when it is taken, so a worker that dies loses it (at-most-once, as under huey's
consumer; logged once at start). Dead letters live in the storage's key/value
space under :data:`DEAD_PREFIX`; a TTL the storage cannot keep is kept by this
process.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from hueyd.api.clock import from_posix
from hueyd.storage.base import DeadLetter, Message, Storage, StorageError
from hueyd.storage.huey_base import EmptyData

logger = logging.getLogger("hueyd")

#: keys of dead letters in the storage's key/value space
DEAD_PREFIX = "hueyd.dead:"


def _value(raw: Any) -> bytes | None:
    return None if raw is EmptyData or raw is None else raw


class HueyStorageAdapter(Storage):
    """A huey-interface storage (``inner``) seen through hueyd's contract."""

    def __init__(self, inner: Any, utc: Callable[[], bool]) -> None:
        super().__init__(getattr(inner, "name", "huey"))
        self.inner = inner
        self._utc = utc
        self.blocking = bool(getattr(inner, "blocking", False))
        self.priority = getattr(inner, "priority", True)
        if hasattr(inner, "read_timeout"):
            self.read_timeout = inner.read_timeout
        self._expiry: dict[str, float] = {}  # key -> monotonic deadline of a TTL kept here

    def __repr__(self) -> str:
        return f"<hueyd contract over {self.inner!r}>"

    def _when(self, ts: float) -> Any:
        return from_posix(ts, self._utc())

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        self.inner.close()

    def ping(self) -> None:
        try:
            self.inner.queue_size()
        except Exception as exc:
            raise StorageError(f"{type(self.inner).__name__}: {exc}") from exc

    def start_consuming(self, consumer_id: str | None = None) -> str:
        logger.warning("storage %s implements huey's interface only: delivery is "
                       "at-most-once (a task whose worker dies is lost)",
                       type(self.inner).__name__)
        return super().start_consuming(consumer_id)

    # -- queue -------------------------------------------------------------------------
    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        self.inner.enqueue(data, priority)

    def dequeue(self, timeout: float = 0) -> Message | None:
        """The storage waits by itself if it is ``blocking``; ``timeout`` is not passed."""
        data = self.inner.dequeue()
        return None if data is None else Message(data)

    def queue_size(self) -> int:
        return self.inner.queue_size()

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        return self.inner.enqueued_items(limit)

    def flush_queue(self) -> None:
        self.inner.flush_queue()

    # -- schedule ----------------------------------------------------------------------
    def add_to_schedule(self, data: bytes, ts: float, priority: int | None = None) -> None:
        self.inner.add_to_schedule(data, self._when(ts))

    def read_schedule(self, ts: float) -> list[bytes]:
        return self.inner.read_schedule(self._when(ts))

    def next_scheduled_time(self) -> float | None:
        return None  # not in huey's interface: the scheduler reads it every tick

    def schedule_size(self) -> int:
        return self.inner.schedule_size()

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        return self.inner.scheduled_items(limit)

    def flush_schedule(self) -> None:
        self.inner.flush_schedule()

    # -- key/value ---------------------------------------------------------------------
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        self.inner.put_data(key, value, is_result)

    def peek_data(self, key: str) -> bytes | None:
        self._expire(key)
        return _value(self.inner.peek_data(key))

    def pop_data(self, key: str) -> bytes | None:
        self._expire(key)
        return _value(self.inner.pop_data(key))

    def peek_many(self, keys: Iterable[str]) -> list[bytes | None]:
        keys = list(keys)
        for key in keys:
            self._expire(key)
        found = self.inner.peek_many(keys)
        return [_value(found.get(key)) for key in keys]

    def has_data_for_key(self, key: str) -> bool:
        self._expire(key)
        return bool(self.inner.has_data_for_key(key))

    def put_if_empty(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        if not ttl or getattr(self.inner, "supports_hash_ttl", False):
            return self.inner.put_if_empty(key, value, ttl or None)
        self._expire(key)
        if not self.inner.put_if_empty(key, value):
            return False
        self._expiry[key] = time.monotonic() + ttl
        return True

    def _expire(self, key: str) -> None:
        """Delete ``key`` if a TTL this process keeps for it ran out."""
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= time.monotonic():
            del self._expiry[key]
            self.inner.delete_data(key)

    def delete_data(self, key: str) -> bool:
        self._expiry.pop(key, None)
        return bool(self.inner.delete_data(key))

    def result_store_size(self) -> int:
        return len(self.result_items())

    def result_items(self) -> dict[str, bytes]:
        return {key: value for key, value in self.inner.result_items().items()
                if not key.startswith(DEAD_PREFIX)}

    def flush_results(self) -> None:
        self.inner.flush_results()

    def incr(self, key: str, amount: int = 1) -> int:
        return self.inner.incr(key, amount)

    def delete_counter(self, key: str) -> None:
        self.inner.delete_counter(key)

    def flush_counters(self) -> None:
        self.inner.flush_counters()

    def flush_all(self) -> None:
        self.inner.flush_all()

    # -- dead letters: ``DEAD_PREFIX<time_ns>-<random>`` -> JSON header line + data ----
    def add_dead_letter(self, data: bytes, reason: str, ts: float) -> None:
        header = json.dumps({"reason": reason, "ts": ts}).encode()
        key = f"{DEAD_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        self.inner.put_data(key, header + b"\n" + data)

    def _dead(self, limit: int | None = None) -> list[tuple[str, bytes]]:
        items = sorted((key, value) for key, value in self.inner.result_items().items()
                       if key.startswith(DEAD_PREFIX))
        return items[:limit]

    def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        letters = []
        for key, raw in self._dead(limit):
            header, _, data = raw.partition(b"\n")
            fields = json.loads(header)
            letters.append(DeadLetter(data, fields["reason"], fields["ts"],
                                      key[len(DEAD_PREFIX):]))
        return letters

    def dead_letter_count(self) -> int:
        return len(self._dead())

    def requeue_dead_letters(self, limit: int | None = None) -> int:
        moved = 0
        for letter in self.dead_letters(limit):
            if self.inner.delete_data(DEAD_PREFIX + letter.id):
                self.inner.enqueue(letter.data, None)
                moved += 1
        return moved

    def purge_dead_letters(self, limit: int | None = None) -> int:
        return sum(1 for key, _ in self._dead(limit) if self.inner.delete_data(key))
