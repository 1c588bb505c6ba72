"""Revoking tasks: one instance (``r:<id>``) or every instance of a task (``rt:<name>``).

An entry is ``(revoke_until, revoke_once)`` with ``revoke_until`` a POSIX float or
None. The worker reads both keys of a task in one ``peek_many`` round trip.
"""
from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from hueyd.api.clock import Instant, as_clock, normalize_time, to_posix
from hueyd.api.exceptions import MessageError
from hueyd.api.result import Result
from hueyd.api.task import Task, TaskWrapper
from hueyd.ratelog import RateLimitedLog

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey

logger = logging.getLogger("hueyd.revocation")
#: an unreadable entry is read again with every task it names: one line per interval
UNREADABLE_LOG = RateLimitedLog(logger, level=logging.WARNING)


class Revocations:
    """Writes and checks revocation entries for one Huey."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey

    def class_key(self, task_class: Any) -> str:
        if isinstance(task_class, TaskWrapper):
            task_class = task_class.task_class
        return "rt:" + self.huey.registry.task_to_string(task_class)

    def keys_for(self, obj: Any) -> list[str]:
        """The keys that can revoke ``obj``: a wrapper/class, a Result, a Task or a task id."""
        if isinstance(obj, TaskWrapper) or inspect.isclass(obj):
            return [self.class_key(obj)]
        if isinstance(obj, Result):
            obj = obj.task
        if isinstance(obj, Task):
            if type(obj) is Task:  # revoke_by_id: no class to look at
                return [obj.revoke_id]
            return [obj.revoke_id, self.class_key(type(obj))]
        return [f"r:{obj}"]

    def revoke(self, key: str, revoke_until: Any = None, revoke_once: bool = False) -> None:
        until = None
        if revoke_until is not None:
            until = to_posix(normalize_time(revoke_until, utc=self.huey.utc), self.huey.utc)
        self.huey.put(key, (until, bool(revoke_once)))

    def is_revoked(self, obj: Any, timestamp: Instant | None = None, peek: bool = True) -> bool:
        """True if revoked at ``timestamp``; unless ``peek``, spent entries are removed
        (a revoke_once that is now used up, a revoke_until that has passed)."""
        keys = self.keys_for(obj)
        now = to_posix(as_clock(timestamp, self.huey.utc), self.huey.utc)
        for key, raw in zip(keys, self.huey.storage.peek_many(keys)):
            if raw is None:
                continue
            revoked, spent = self._verdict(key, raw, now)
            if spent and not peek:
                self.huey.delete(key)
            if revoked:
                return True
        return False

    def _verdict(self, key: str, raw: bytes, now: float) -> tuple[bool, bool]:
        """(revoked now?, entry used up?)"""
        try:
            until, once = self.huey.serializer.deserialize(raw)
            until = None if until is None else float(until)  # compared with now below
        except (MessageError, TypeError, ValueError) as exc:
            UNREADABLE_LOG.log("ignoring unreadable revocation entry %s: %s", key, exc)
            return False, False
        if once:
            return True, True
        if until is not None and until <= now:
            return False, True
        return True, False
