"""``crontab(...)``: cron-style fields parsed once into a pure matcher of datetimes.

The returned function takes the instant to test (the scheduler passes its
clock), so it is deterministic and table-testable. Day of week: 0 = Sunday
(7 is accepted for Sunday too).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable

_RANGE = re.compile(r"(\d+)-(\d+)(?:/(\d+))?")
_EVERY = re.compile(r"\*/(\d+)")

#: field letter, argument name, accepted values
_FIELDS = (("m", "month", range(1, 13)), ("d", "day", range(1, 32)),
           ("w", "day_of_week", range(8)), ("H", "hour", range(24)), ("M", "minute", range(60)))


def _parse_field(letter: str, value: int | str, accepted: range, strict: bool) -> set[int]:
    """The set of values one field matches; ValueError on an out-of-range number."""
    selected: set[int] = set()
    for piece in str(value).split(","):
        piece = piece.strip()
        if piece == "*":
            selected.update(accepted)
        elif piece.isdigit():
            number = int(piece)
            if number not in accepted:
                raise ValueError(f"{number} is not a valid input")
            selected.add(number % 7 if letter == "w" else number)
        elif match := _RANGE.fullmatch(piece):
            low, high, step = int(match[1]), int(match[2]), int(match[3] or 1)
            if low not in accepted or high not in accepted:
                raise ValueError(f"{piece} is not a valid input")
            if low <= high:
                values = list(range(low, high + 1))
            else:  # wraps around, e.g. 22-2 hours or 5-1 (Fri..Mon) days of week
                top = 6 if letter == "w" else accepted[-1]
                values = list(range(low, top + 1)) + list(range(accepted[0], high + 1))
            values = values[::step]
            selected.update([v % 7 for v in values] if letter == "w" else values)
        elif match := _EVERY.fullmatch(piece):
            if letter == "w":
                raise ValueError("Cannot perform this kind of matching on day-of-week.")
            selected.update(accepted[::int(match[1])])
        elif strict:
            raise ValueError(f"{piece} is not a valid input")
        # Without strict, huey ignores a piece it does not understand; so do we.
    if not selected:
        raise ValueError(f"{value} matches no values")
    return selected


def crontab(minute: int | str = "*", hour: int | str = "*", day: int | str = "*",
            month: int | str = "*", day_of_week: int | str = "*",
            strict: bool = False) -> Callable[[dt.datetime], bool]:
    """A predicate true for the datetimes (to the minute) the cron fields select."""
    values = {"month": month, "day": day, "day_of_week": day_of_week, "hour": hour,
              "minute": minute}
    allowed = {}
    for letter, arg, accepted in _FIELDS:
        try:
            allowed[letter] = _parse_field(letter, values[arg], accepted, strict)
        except ValueError as exc:
            raise ValueError(f"crontab {arg}={values[arg]!r}: {exc}") from None

    def validate_date(timestamp: dt.datetime) -> bool:
        weekday = (timestamp.weekday() + 1) % 7  # Monday=0 -> Sunday=0
        return (timestamp.month in allowed["m"] and timestamp.day in allowed["d"]
                and weekday in allowed["w"] and timestamp.hour in allowed["H"]
                and timestamp.minute in allowed["M"])

    return validate_date


crontab.hourly = functools.partial(crontab, minute="0")  # type: ignore[attr-defined]
crontab.daily = functools.partial(crontab, minute="0", hour="0")  # type: ignore[attr-defined]
