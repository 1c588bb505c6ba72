"""``huey.storage`` speaks huey's storage interface; ``huey.backend`` hueyd's contract.

Code written for huey calls ``huey.storage.dequeue()`` and gets bytes, passes
datetimes to the schedule and tests ``peek_data`` against ``EmptyData``; hueyd's
helpers need leases, POSIX times and ``None``. The Huey holds both faces of one
storage: a hueyd backend behind a :class:`HueyView`, or a storage written for huey
(a :class:`~hueyd.storage.BaseStorage`) behind a
:class:`~hueyd.api.storage_adapter.HueyStorageAdapter`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hueyd.api.clock import Instant, to_posix
from hueyd.api.storage_adapter import HueyStorageAdapter
from hueyd.storage.base import Storage
from hueyd.storage.huey_base import BaseStorage, EmptyData

#: the view's own attributes; every other attribute is the backend's
_OWN = ("backend", "_utc")


class HueyView:
    """huey's storage interface over a hueyd backend. What the two share (queue_size,
    put_data, flush_*, ``conn``, ``blocking``...) is the backend's own attribute; the
    methods that differ translate. ``isinstance(huey.storage, RedisStorage)`` holds,
    as ``unittest.mock`` does it: ``__class__`` answers the backend's class."""

    def __init__(self, backend: Storage, utc: Callable[[], bool]) -> None:
        object.__setattr__(self, "backend", backend)
        object.__setattr__(self, "_utc", utc)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self.backend)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.backend, name, value)

    def __repr__(self) -> str:
        return f"<huey interface of {self.backend!r}>"

    #: hueyd's put_if_empty honours ``ttl`` on every backend
    supports_hash_ttl = True

    def dequeue(self) -> bytes | None:
        """huey's dequeue: the next message's bytes, taken and acknowledged at once,
        without waiting (huey's at-most-once delivery: see docs/compat.md)."""
        message = self.backend.dequeue(0)
        if message is None:
            return None
        self.backend.ack(message)
        return message.data

    def add_to_schedule(self, data: bytes, ts: Instant, priority: int | None = None) -> None:
        """``ts``: a datetime (naive: in the Huey's clock) or POSIX seconds."""
        self.backend.add_to_schedule(data, to_posix(ts, self._utc()), priority)

    def read_schedule(self, ts: Instant) -> list[bytes]:
        return self.backend.read_schedule(to_posix(ts, self._utc()))

    def peek_data(self, key: str) -> Any:
        value = self.backend.peek_data(key)
        return EmptyData if value is None else value

    def pop_data(self, key: str) -> Any:
        value = self.backend.pop_data(key)
        return EmptyData if value is None else value

    def peek_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        keys = list(keys)
        return {key: value for key, value in zip(keys, self.backend.peek_many(keys),
                                                 strict=True) if value is not None}

    wait_result = BaseStorage.wait_result


def link(storage: Any, utc: Callable[[], bool]) -> tuple[Storage, Any]:
    """(hueyd's contract, huey's interface) of one storage object of either kind."""
    if type(storage) is HueyView:  # noqa: E721 (its __class__ is the backend's)
        return storage.backend, storage
    if isinstance(storage, HueyStorageAdapter):
        return storage, storage.inner
    if isinstance(storage, Storage):
        return storage, HueyView(storage, utc)
    return HueyStorageAdapter(storage, utc), storage
