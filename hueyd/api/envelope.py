"""What a task envelope's fields may hold, checked before a Task is built from one.

A message comes from whoever can write the queue. Every field is checked here,
so a bad one is refused at once with a :class:`MessageError` naming it (and the
message becomes a dead letter), instead of failing later, halfway through a run,
with an error the consumer cannot place: an unhashable name, an ``eta`` past the
year 9999, a NaN delay, retries that count down forever.
"""
from __future__ import annotations

import datetime as dt
import math
import reprlib
from typing import Any

from hueyd.api.clock import from_posix
from hueyd.api.exceptions import MessageError

#: the longest delay, time limit or lifetime a message may ask for (about 31 years):
#: more overflows timers and dates
MAX_SECONDS = 1e9
#: priorities stay exact as sorted-set scores and SQLite numbers (and NaN is refused)
MAX_PRIORITY = 2 ** 53

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60


def shown(value: Any) -> str:
    """A value, cut short: a reason must stay one readable line."""
    return _short.repr(value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _seconds(value: Any) -> bool:
    return _number(value) and math.isfinite(value) and 0 <= value <= MAX_SECONDS


def _instant(value: Any, utc: bool) -> bool:
    """A POSIX time that a datetime can hold (in the Huey's clock)."""
    if not _number(value) or not math.isfinite(value):
        return False
    try:
        from_posix(value, utc)
    except (ValueError, OverflowError, OSError):
        return False
    return True


def _expires(value: Any) -> bool:
    """huey's ``expires``: seconds, a timedelta or a datetime (resolved at enqueue)."""
    if isinstance(value, dt.timedelta):
        return _seconds(value.total_seconds())
    return value is None or isinstance(value, dt.datetime) or _seconds(value)


def _chord(value: Any) -> bool:
    return value is None or (
        isinstance(value, (tuple, list)) and len(value) == 4 and isinstance(value[0], str)
        and isinstance(value[1], int) and isinstance(value[2], int)
        and isinstance(value[3], dict))


#: field -> (test, what it must be)
RULES = {
    "id": (lambda v, utc: isinstance(v, str), "a string"),
    "args": (lambda v, utc: isinstance(v, (tuple, list)), "a list"),
    "kwargs": (lambda v, utc: isinstance(v, dict) and all(isinstance(k, str) for k in v),
               "a dict with string keys"),
    "eta": (lambda v, utc: v is None or _instant(v, utc), "empty or a time before 9999"),
    "expires_resolved": (lambda v, utc: v is None or _instant(v, utc),
                         "empty or a time before 9999"),
    "retries": (lambda v, utc: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                "a count, 0 or more"),
    "retry_delay": (lambda v, utc: _seconds(v), f"seconds from 0 to {MAX_SECONDS:g}"),
    "retry_backoff": (lambda v, utc: _seconds(v), f"a factor from 0 to {MAX_SECONDS:g}"),
    "priority": (lambda v, utc: v is None or (_number(v) and abs(v) <= MAX_PRIORITY),
                 "empty or a number"),
    "timeout": (lambda v, utc: v is None or _seconds(v),
                f"empty or seconds from 0 to {MAX_SECONDS:g}"),
    "expires": (lambda v, utc: _expires(v), "empty, seconds, a timedelta or a datetime"),
    "on_complete": (lambda v, utc: v is None or isinstance(v, dict), "empty or a task"),
    "on_error": (lambda v, utc: v is None or isinstance(v, dict), "empty or a task"),
    "chord": (lambda v, utc: _chord(v), "empty or (id, size, index, task)"),
}


def task_name(env: dict) -> str:
    """The envelope's task name (looked up before the other fields are checked)."""
    name = env.get("name")
    if not isinstance(name, str):
        raise MessageError(f"malformed task message: name {shown(name)} is not a string")
    return name


#: the fields a plain task leaves empty: no eta, expiry, time limit, priority, follow-up
_EMPTY = ("eta", "expires_resolved", "priority", "timeout", "expires", "on_complete",
          "on_error", "chord")
_NONE = (None,) * len(_EMPTY)
_SEQUENCES, _NUMBERS = (tuple, list), (int, float)


def _plain(env: dict) -> bool:
    """Whether ``env`` is a plain task's envelope that passes every rule, told in one
    look (most messages are): stricter than the rules (exact types), so anything it
    doubts goes through them and is refused with the field named."""
    try:
        kwargs, retries = env["kwargs"], env["retries"]
        delay, backoff = env["retry_delay"], env["retry_backoff"]
        return (tuple(map(env.__getitem__, _EMPTY)) == _NONE
                and type(env["id"]) is str and type(env["args"]) in _SEQUENCES
                and type(kwargs) is dict and all(type(k) is str for k in kwargs)
                and type(retries) is int and retries >= 0
                and type(delay) in _NUMBERS and 0 <= delay <= MAX_SECONDS
                and type(backoff) in _NUMBERS and 0 <= backoff <= MAX_SECONDS)
    except KeyError:
        return False


def check(env: dict, utc: bool) -> None:
    """Raise :class:`MessageError` naming the first field that is missing or wrong."""
    if _plain(env):
        return
    for field, (test, expected) in RULES.items():
        if field not in env:
            raise MessageError(f"malformed task message: no {field}")
        if not test(env[field], utc):
            raise MessageError(f"malformed task message: {field} {shown(env[field])} "
                               f"is not {expected}")


def due_at(env: dict) -> float | None:
    """The POSIX time the task became due: its eta, else when it was enqueued (None for
    a message that carries neither: written by an older hueyd). Only measured, never
    obeyed: a wrong value can skew a histogram, nothing else."""
    times = [t for t in (env.get("eta"), env.get("enqueued"))
             if _number(t) and math.isfinite(t)]
    return max(times) if times else None
