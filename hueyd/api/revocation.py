"""Revoking tasks: one instance (``r:<id>``) or every instance of a task (``rt:<name>``).

An entry is plain JSON, ``{"until": <POSIX float or null>, "once": <bool>}``, never a
pickle: anyone who can write the storage can write these keys, and reading one must
not run their code, signing key or not. The worker reads both keys of a task in one
``peek_many`` round trip.
"""
from __future__ import annotations

import inspect
import json
import logging
import math
from typing import TYPE_CHECKING, Any

from hueyd.api.clock import Instant, as_clock, normalize_time, to_posix
from hueyd.api.result import Result
from hueyd.api.task import Task, TaskWrapper
from hueyd.ratelog import RateLimitedLog

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.registry import Registry
    from hueyd.storage.base import Storage

logger = logging.getLogger("hueyd.revocation")
#: an unreadable entry is read again with every task it names: one line per interval
UNREADABLE_LOG = RateLimitedLog(logger, level=logging.WARNING)
#: the consumer removes each unreadable entry it meets (one line per interval too: an
#: attacker may plant thousands)
REMOVED_LOG = RateLimitedLog(logger, level=logging.WARNING)


class Revocations:
    """Writes and checks revocation entries in ``storage``; task classes are named by
    ``registry``, instants read in the Huey's clock (``utc``)."""

    def __init__(self, storage: Storage, registry: Registry, utc: bool) -> None:
        self.storage = storage
        self.registry = registry
        self.utc = utc

    def class_key(self, task_class: Any) -> str:
        if isinstance(task_class, TaskWrapper):
            task_class = task_class.task_class
        return "rt:" + self.registry.task_to_string(task_class)

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
            until = to_posix(normalize_time(revoke_until, utc=self.utc), self.utc)
        self.storage.put_data(key, encode_entry(until, bool(revoke_once)))

    def is_revoked(self, obj: Any, timestamp: Instant | None = None, peek: bool = True) -> bool:
        """True if revoked at ``timestamp``; unless ``peek``, spent entries are removed
        (a revoke_once that is now used up, a revoke_until that has passed)."""
        keys = self.keys_for(obj)
        now = to_posix(as_clock(timestamp, self.utc), self.utc)
        for key, raw in zip(keys, self.storage.peek_many(keys)):
            if raw is None:
                continue
            try:
                revoked, spent = verdict(decode_entry(raw), now)
            except ValueError as exc:
                revoked, spent = False, True  # reported once: the consumer removes it
                (UNREADABLE_LOG if peek else REMOVED_LOG).log(
                    "%s unreadable revocation entry %s: %s", "ignoring" if peek else "removed",
                    key, exc)
            if spent and not peek:
                self.storage.delete_data(key)
            if revoked:
                return True
        return False


#: an entry is about 30 bytes; anything much longer is not one (and is not parsed)
ENTRY_LIMIT = 256


def encode_entry(until: float | None, once: bool) -> bytes:
    return json.dumps({"until": until, "once": once}, separators=(",", ":")).encode()


def decode_entry(raw: bytes) -> tuple[float | None, bool]:
    """(until, once) from a stored entry; ValueError for anything else."""
    if len(raw) > ENTRY_LIMIT:
        raise ValueError(f"{len(raw)} bytes, not a revocation entry")
    try:
        fields = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ValueError("not JSON (an entry of an older hueyd, or foreign data)") from None
    until = fields.get("until") if isinstance(fields, dict) else None
    once = fields.get("once") if isinstance(fields, dict) else None
    number = isinstance(until, (int, float)) and not isinstance(until, bool) \
        and math.isfinite(until)
    if not isinstance(once, bool) or not (until is None or number):
        raise ValueError(f"not a revocation entry: {raw[:60]!r}")
    return until, once


def verdict(entry: tuple[float | None, bool], now: float) -> tuple[bool, bool]:
    """(revoked now?, entry used up?)"""
    until, once = entry
    if once:
        return True, True
    if until is not None and until <= now:
        return False, True
    return True, False
