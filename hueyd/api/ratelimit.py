"""``huey.rate_limit(name, limit, per)``: a fixed-window rate limit shared by every consumer.

Windows are ``int(now) // per``: all consumers agree on where a window starts (given
clocks that agree). The count of the current window lives in the key/value store
under ``<huey name>.rl.<name>``, and the storage adds to it in one atomic step
(``Storage.count_in_window``), so two consumers never both take the last call of a
window. Attempts that are refused count too, as in huey.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from hueyd.api.exceptions import RateLimitExceeded
from hueyd.api.locks import Guard

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.storage.base import Storage


class LimitOwner(Protocol):
    """What a rate limit reads of its Huey: its name and its storage (``backend``, hueyd's
    contract: read at each use, the Huey may swap it)."""

    name: str
    backend: Storage


class RateLimit(Guard):
    """At most ``limit`` calls per ``per`` seconds, as a decorator or a context manager.

    Past the limit it raises :class:`RateLimitExceeded`; a task that raises it runs
    again when the next window opens if ``retry`` (or it has retries left)."""

    def __init__(self, huey: LimitOwner, name: str, limit: int, per: float,
                 retry: bool = True) -> None:
        if limit < 1 or per <= 0:
            raise ValueError(f"rate limit {name!r}: limit must be >= 1 and per > 0 seconds")
        self._huey = huey
        self._name = name
        self._limit = limit
        self._per = per
        self._retry = retry
        self._key = f"{huey.name}.rl.{name}"

    def _window(self, now: float) -> int:
        return int(int(now) // self._per)

    def _until_next_window(self, now: float) -> float:
        return (self._window(now) + 1) * self._per - now

    def acquire(self) -> None:
        """Count one call; RateLimitExceeded if the window already had ``limit``."""
        now = time.time()
        count = self._huey.backend.count_in_window(self._key, self._window(now))
        if count > self._limit:
            raise RateLimitExceeded(self._name, self._until_next_window(now),
                                    retry=self._retry)

    def current_usage(self) -> int:
        """Calls counted in the current window (refused ones included); 0 in a new one."""
        return self._huey.backend.count_in_window(self._key, self._window(time.time()), 0)

    def reset(self) -> None:
        """Forget the current window's count: the next call opens a fresh window."""
        self._huey.backend.delete_data(self._key)
