"""Named locks in the key/value store: ``huey.lock_task(name)`` and ``flush_locks``."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from hueyd.api.exceptions import TaskLockedException

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.storage.base import Storage


class LockOwner(Protocol):
    """What a lock reads of its Huey: the name its keys start with, the storage that
    holds them (``backend``, hueyd's contract: read at each use, the Huey may swap it),
    the keys declared so far."""

    name: str
    backend: Storage
    known_locks: set[str]


def lock_key(huey_name: str, lock_name: str) -> str:
    return f"{huey_name}.lock.{lock_name}"


class Guard:
    """A decorator and a context manager around ``acquire()`` and ``release()``: what
    a lock and a rate limit share."""

    def acquire(self) -> Any:
        raise NotImplementedError

    def release(self) -> Any:
        return None

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)
        return inner

    def __enter__(self) -> Any:
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


class TaskLock(Guard):
    """A lock that is a decorator and a context manager; ``ttl`` (seconds) bounds a
    holder that dies without releasing it."""

    def __init__(self, huey: LockOwner, name: str, ttl: float | None = None) -> None:
        self._huey = huey
        self._name = name
        self._ttl = ttl
        self._key = lock_key(huey.name, name)
        huey.known_locks.add(self._key)

    def is_locked(self) -> bool:
        return self._huey.backend.has_data_for_key(self._key)

    locked = is_locked

    def acquire(self) -> bool:
        # plain bytes, never a pickle: a lock is only ever tested for existence
        if not self._huey.backend.put_if_empty(self._key, b"1", self._ttl):
            raise TaskLockedException(f"unable to acquire lock {self._name}")
        return True

    def clear(self) -> bool:
        return self._huey.backend.delete_data(self._key)

    release = clear


def flush_locks(huey: LockOwner, names: tuple[str, ...]) -> set[str]:
    """Delete the locks this process declared plus ``names``; return the names that were held."""
    keys = set(huey.known_locks) | {lock_key(huey.name, n.strip()) for n in names}
    prefix = f"{huey.name}.lock."
    return {key[len(prefix):] for key in keys if huey.backend.delete_data(key)}
