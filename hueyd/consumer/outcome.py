"""A task that ran, and whose outcome (result, retry, follow-up tasks) the storage did
not take: its worker tries again to store it, without running the task again.

A storage that refuses (Redis at ``maxmemory``, a full disk: :class:`StorageRefused`)
is tried :data:`TRIES` times in all, the waits between doubling from :data:`WAIT`
(1 + 2 + 4 + 8 s), then the message is set aside as a dead letter naming the error;
``hueyd dead-letter requeue`` runs it again once the storage has room. A storage
that is away is tried every :data:`WAIT` seconds until it answers: nothing can be
settled without it. Meanwhile its worker takes no other task, so a refusing storage
does not run the whole queue into dead letters.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hueyd.storage.base import StorageError, StorageRefused

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.task import Task

TRIES = 5
WAIT = 1.0


def refused(exc: StorageError) -> bool:
    """The storage answered no (rather than not answering)."""
    return isinstance(exc, StorageRefused) or getattr(exc, "refused", False)


@dataclass
class Unstored:
    """The task that ran, ``store()`` to try its outcome again, refusals so far, and
    when the next try is due (its worker's clock)."""

    task: Task
    store: Callable[[], None]
    refusals: int = 0
    next_at: float = 0.0

    def failed(self, exc: StorageError, now: float) -> float | None:
        """Count this failure: the seconds until the next try, or None when the
        refusals are used up (set the message aside)."""
        if refused(exc):
            self.refusals += 1
            if self.refusals >= TRIES:
                return None
            wait = WAIT * 2 ** (self.refusals - 1)
        else:
            wait = WAIT
        self.next_at = now + wait
        return wait

    def reason(self, exc: BaseException) -> str:
        """Why its message was set aside, for the dead letter."""
        what = f"{self.task.name} {self.task.id}"
        if isinstance(exc, StorageError):
            return f"{what}: its outcome could not be stored ({TRIES} tries): {exc}"
        return f"{what}: cannot store its outcome: {type(exc).__name__}: {exc}"
