"""RateLimitedLog: one line per interval and kind, and every suppressed line counted,
including those of a burst that stopped (flushed once the interval has passed)."""
from __future__ import annotations

import logging
import re

import pytest

from hueyd import ratelog
from hueyd.ratelog import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def records(caplog) -> list[logging.LogRecord]:
    """This module's records (flush_due also flushes the logs other tests left counting)."""
    return [r for r in caplog.records if r.name.startswith("t.")]


def accounted(lines: list[str]) -> int:
    """Events a set of lines stands for: one each, plus each "N more like it"."""
    return sum(1 + sum(int(n) for n in re.findall(r"\((\d+) more like it", line))
               for line in lines)


def test_a_burst_writes_two_lines_that_count_it_all(clock, caplog):
    log = RateLimitedLog(logging.getLogger("t.burst"), interval=10, clock=clock)
    caplog.set_level(logging.INFO)
    for n in range(10_000):
        log.error("set aside message %d", n)
    assert len(records(caplog)) == 1
    ratelog.flush_due()  # the interval has not passed: nothing yet
    assert len(records(caplog)) == 1
    clock.now += 10
    ratelog.flush_due()
    lines = [r.getMessage() for r in records(caplog)]
    assert lines == ["set aside message 0",
                     "set aside message 9999 (9998 more like it in the last 10s)"]
    assert accounted(lines) == 10_000
    ratelog.flush_due()
    assert len(records(caplog)) == 2


def test_each_kind_counts_on_its_own_and_force_flushes(clock, caplog):
    first = RateLimitedLog(logging.getLogger("t.a"), interval=10, clock=clock)
    second = RateLimitedLog(logging.getLogger("t.b"), interval=10, clock=clock,
                            level=logging.WARNING)
    caplog.set_level(logging.INFO)
    for _ in range(3):
        first.error("a")
        second.log("b")
    ratelog.flush_due(force=True)  # at stop: nothing counted is left unsaid
    lines = [(r.levelname, r.getMessage()) for r in records(caplog)]
    assert sorted(lines) == [("ERROR", "a"), ("ERROR", "a (1 more like it in the last 0s)"),
                             ("WARNING", "b"), ("WARNING", "b (1 more like it in the last 0s)")]


def test_the_next_line_after_the_interval_carries_the_count(clock, caplog):
    log = RateLimitedLog(logging.getLogger("t.next"), interval=10, clock=clock)
    caplog.set_level(logging.INFO)
    log.error("down")
    log.error("down")
    clock.now += 11
    log.error("down")
    log.recovered("back")
    log.recovered("back")  # once
    assert [r.getMessage() for r in records(caplog)] == [
        "down", "down (1 more like it in the last 11s)", "back"]
