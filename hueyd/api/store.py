"""Key/value helpers and queue introspection, for the Huey facade to delegate to.

Every value goes through the Huey's serializer, so a signed Huey signs results and
key/value entries, and verifies what it reads before unpickling it (MessageError if it
is not signed with its key). Bookkeeping is plain bytes, never a pickle: revocations
(revocation.py), locks and chord markers.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hueyd.api.exceptions import MessageError
from hueyd.constants import EmptyData

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.task import Task
    from hueyd.storage.base import Storage

logger = logging.getLogger("hueyd")


class Store:
    """``put``/``get``/``delete`` and ``pending``/``scheduled``/``flush`` over a storage;
    ``decode`` reads a message into its task (MessageError when it cannot)."""

    def __init__(self, storage: Storage, serializer: Any,
                 decode: Callable[[bytes], Task]) -> None:
        self.storage = storage
        self.serializer = serializer
        self.decode = decode

    # -- key/value -------------------------------------------------------------------------
    def put(self, key: str, data: Any) -> None:
        self.storage.put_data(key, self.serializer.serialize(data))

    def put_result(self, key: str, data: Any) -> None:
        self.storage.put_data(key, self.serializer.serialize(data), is_result=True)

    def put_if_empty(self, key: str, data: Any, ttl: float | None = None) -> bool:
        return self.storage.put_if_empty(key, self.serializer.serialize(data), ttl)

    def get_raw(self, key: str, peek: bool = False) -> bytes | type[EmptyData]:
        """The bytes under ``key`` (removed unless ``peek``), or EmptyData (as huey)."""
        raw = self.storage.peek_data(key) if peek else self.storage.pop_data(key)
        return EmptyData if raw is None else raw  # a storage that answers None, too

    def get(self, key: str, peek: bool = False) -> Any:
        """The value under ``key`` (removed unless ``peek``), or None (as huey)."""
        raw = self.get_raw(key, peek)
        return None if raw is EmptyData else self.serializer.deserialize(raw)

    def delete(self, key: str) -> bool:
        return self.storage.delete_data(key)

    # -- introspection -----------------------------------------------------------------------
    def _decode_all(self, items: list[bytes]) -> list[Task]:
        """The tasks among ``items``; the unreadable ones are counted in one line."""
        tasks, unreadable = [], 0
        for data in items:
            try:
                tasks.append(self.decode(data))
            except MessageError as exc:
                unreadable, last = unreadable + 1, exc
        if unreadable:
            logger.warning("skipping %d unreadable message(s), the last: %s", unreadable, last)
        return tasks

    def pending(self, limit: int | None = None) -> list[Task]:
        return self._decode_all(self.storage.enqueued_items(limit))

    def pending_count(self) -> int:
        return self.storage.queue_size()

    def scheduled(self, limit: int | None = None) -> list[Task]:
        return self._decode_all(self.storage.scheduled_items(limit))

    def scheduled_count(self) -> int:
        return self.storage.schedule_size()

    def all_results(self) -> dict[str, bytes]:
        return self.storage.result_items()

    def result_count(self) -> int:
        return self.storage.result_store_size()

    def flush(self) -> None:
        self.storage.flush_all()

