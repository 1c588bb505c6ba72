"""Time conversions between huey's naive datetimes and storage's POSIX timestamps.

Inside the api, instants are naive datetimes in the Huey's clock (UTC when
``utc=True``, local time otherwise), as in huey, so task attributes look the
same to ported code. Storage only sees POSIX floats, which are unambiguous.
"""
from __future__ import annotations

import calendar
import datetime as dt
import time

Instant = dt.datetime | float | int


def now(utc: bool) -> dt.datetime:
    """The current instant in the Huey's clock."""
    return from_posix(time.time(), utc)


def from_posix(ts: float, utc: bool) -> dt.datetime:
    if utc:
        return dt.datetime.fromtimestamp(ts, dt.UTC).replace(tzinfo=None)
    return dt.datetime.fromtimestamp(ts)


def to_posix(value: Instant, utc: bool) -> float:
    """POSIX seconds for a number (unchanged) or a datetime (naive = in the Huey's clock)."""
    if isinstance(value, (int, float)):
        return float(value)
    if value.tzinfo is not None:
        return value.timestamp()
    if utc:
        return calendar.timegm(value.timetuple()) + value.microsecond / 1e6
    return value.timestamp()


def as_clock(value: Instant | None, utc: bool) -> dt.datetime:
    """A consumer-supplied timestamp (POSIX float or datetime) as a datetime in the Huey's clock."""
    if value is None:
        return now(utc)
    if isinstance(value, (int, float)):
        return from_posix(value, utc)
    if value.tzinfo is not None:
        return from_posix(value.timestamp(), utc)
    return value


def normalize_time(eta: dt.datetime | None = None, delay: float | dt.timedelta | None = None,
                   utc: bool = True) -> dt.datetime:
    """huey's rule for user-given times: exactly one of ``eta``/``delay``.

    A naive ``eta`` is the caller's local time; an aware one is converted.
    """
    if (eta is None) == (delay is None):
        raise ValueError("Specify either an eta (datetime) or delay (seconds)")
    if delay is not None:
        if not isinstance(delay, dt.timedelta):
            delay = dt.timedelta(seconds=delay)
        return now(utc) + delay
    if not isinstance(eta, dt.datetime):
        raise ValueError("eta must be a datetime instance")
    if eta.tzinfo is None:
        # The caller's local wall-clock time: time.mktime interprets it.
        return from_posix(time.mktime(eta.timetuple()) + eta.microsecond / 1e6, utc)
    return from_posix(eta.timestamp(), utc)


def normalize_expires(expires: dt.datetime | float | dt.timedelta, utc: bool = True,
                      ) -> dt.datetime:
    """When a task enqueued now stops being worth running."""
    if isinstance(expires, dt.datetime):
        return normalize_time(eta=expires, utc=utc)
    return normalize_time(delay=expires, utc=utc)


# -- huey.utils' names for the same conversions (``hueyd.utils``) -----------------------
def utcnow() -> dt.datetime:
    """The current UTC time as a naive datetime."""
    return now(True)


def is_naive(value: dt.datetime) -> bool:
    return value.utcoffset() is None


def make_naive(value: dt.datetime) -> dt.datetime:
    """An aware datetime as naive local time (whole seconds, as huey)."""
    return from_posix(value.timestamp(), False).replace(microsecond=0)


def aware_to_utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC."""
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def local_to_utc(value: dt.datetime) -> dt.datetime:
    """A naive local datetime as naive UTC (whole seconds, as huey)."""
    return from_posix(time.mktime(value.timetuple()), True)
