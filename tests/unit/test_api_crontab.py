"""crontab(): pure parse + match, table-tested with explicit instants."""
from __future__ import annotations

import datetime as dt

import pytest

from hueyd import crontab

# 2024-01-07 is a Sunday.
SUN = dt.datetime(2024, 1, 7, 0, 0)


@pytest.mark.parametrize("fields,instant,expected", [
    ({}, SUN, True),
    ({"minute": "*/15"}, SUN.replace(minute=45), True),
    ({"minute": "*/15"}, SUN.replace(minute=46), False),
    ({"minute": 5}, SUN.replace(minute=5), True),
    ({"minute": "0", "hour": "2"}, SUN.replace(hour=2), True),
    ({"minute": "0", "hour": "2"}, SUN.replace(hour=3), False),
    ({"hour": "8-10"}, SUN.replace(hour=9), True),
    ({"hour": "8-10"}, SUN.replace(hour=11), False),
    ({"hour": "22-2"}, SUN.replace(hour=1), True),      # wraps midnight
    ({"hour": "22-2"}, SUN.replace(hour=12), False),
    ({"minute": "0-30/10"}, SUN.replace(minute=20), True),
    ({"minute": "0-30/10"}, SUN.replace(minute=25), False),
    ({"minute": "1,2,3"}, SUN.replace(minute=2), True),
    ({"day_of_week": "0"}, SUN, True),
    ({"day_of_week": "7"}, SUN, True),                    # 7 is Sunday too
    ({"day_of_week": "1"}, SUN + dt.timedelta(days=1), True),  # Monday
    ({"day_of_week": "1-5"}, SUN, False),
    ({"day_of_week": "5-1"}, SUN, True),                  # Fri..Mon wraps
    ({"day": "1", "month": "1"}, SUN.replace(day=1), True),
    ({"month": "2-3"}, SUN, False),
    ({"minute": "5", "strict": False}, SUN.replace(minute=5), True),
])
def test_matches(fields, instant, expected):
    assert crontab(**fields)(instant) is expected


@pytest.mark.parametrize("fields", [
    {"minute": "60"}, {"hour": "24"}, {"day": "0"}, {"month": "13"}, {"day_of_week": "8"},
    {"day_of_week": "*/2"}, {"hour": "20-25"}, {"minute": "x", "strict": True},
    {"minute": "x"},  # ignored piece leaves nothing to match
])
def test_invalid(fields):
    name = next(k for k in fields if k != "strict")
    with pytest.raises(ValueError, match=f"^crontab {name}="):
        crontab(**fields)


def test_lenient_ignores_unknown_pieces():
    assert crontab(minute="5,x")(SUN.replace(minute=5))


def test_hourly_and_daily_helpers():
    assert crontab.hourly()(SUN.replace(hour=5)) and not crontab.hourly()(SUN.replace(minute=1))
    assert crontab.daily()(SUN) and not crontab.daily()(SUN.replace(hour=1))
