"""The scheduler role driven one step at a time with an injected clock (no sleeping)."""
from __future__ import annotations

import calendar
import threading
import time
from collections import Counter

import pytest

import hueyd
from hueyd import crontab
from hueyd.consumer.heartbeat import LocalSlot
from hueyd.consumer.scheduler import BEAT_EVERY, Scheduler, minute_of
from hueyd.consumer.settings import ConsumerSettings

#: 2024-05-01 10:00:37 UTC: not on a minute boundary, on purpose
START = calendar.timegm((2024, 5, 1, 10, 0, 37))


class SimulatedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_huey():
    huey = hueyd.MemoryHuey("sched")

    @huey.periodic_task(crontab())
    def every_minute():
        pass

    @huey.periodic_task(crontab(minute="*/5"))
    def every_five():
        pass

    @huey.task()
    def later():
        pass

    return huey, later


def make_scheduler(huey, clock, interval=1, periodic=True, utc=True, slot=None):
    settings = ConsumerSettings(scheduler_interval=interval, periodic=periodic, utc=utc)
    scheduler = Scheduler(huey, slot or LocalSlot(), threading.Event(), settings,
                          clock=clock, monotonic=clock)
    scheduler.initialize()
    return scheduler


def enqueued_names(huey) -> Counter:
    return Counter(task.name for task in huey.pending())


def run_for(scheduler, clock, seconds, pick_next) -> dict[int, Counter]:
    """Step the scheduler for ``seconds`` (``pick_next(now, wait)`` says when to step
    again); returns, per minute in which it stepped, how often each task was enqueued."""
    fired: dict[int, Counter] = {}
    end = clock.now + seconds
    while clock.now < end:
        before = enqueued_names(scheduler.huey)
        wait = scheduler.step(clock.now)
        assert 0 <= wait <= BEAT_EVERY + 1e-9  # it always comes back to stamp its heartbeat
        fired.setdefault(minute_of(clock.now), Counter()).update(
            enqueued_names(scheduler.huey) - before)
        clock.now = pick_next(clock.now, wait)
    return fired


@pytest.mark.parametrize("interval", [1, 7, 60])
@pytest.mark.parametrize("drive", ["as asked", "every interval", "irregular"])
def test_periodic_tasks_fire_exactly_once_per_minute(interval, drive):
    huey, _ = make_huey()
    clock = SimulatedClock(START)
    scheduler = make_scheduler(huey, clock, interval)
    pickers = {
        "as asked": lambda now, wait: now + wait + 0.003,  # plus a little latency
        "every interval": lambda now, wait: now + interval,  # a scheduler that oversleeps
        "irregular": lambda now, wait: now + (0.4, 1.7, 2.9)[int(now) % 3],
    }
    fired = run_for(scheduler, clock, 10 * 60, pickers[drive])
    assert all(counts["every_minute"] == 1 for counts in fired.values()), fired
    assert [m for m, counts in fired.items() if counts["every_five"]] == [
        m for m in fired if m % 5 == 0]
    if drive != "every interval":  # woken at each boundary: no minute is skipped
        assert sorted(fired) == list(range(minute_of(START), minute_of(clock.now) + 1))


@pytest.mark.parametrize("interval", [1, 7, 60])
def test_periodic_fires_right_after_each_minute_boundary(interval):
    huey, _ = make_huey()
    clock = SimulatedClock(START)
    scheduler = make_scheduler(huey, clock, interval)
    fired_at = []
    while clock.now < START + 5 * 60:
        before = enqueued_names(huey)["every_minute"]
        wait = scheduler.step(clock.now)
        if enqueued_names(huey)["every_minute"] > before:
            fired_at.append(clock.now)
        clock.now += wait + 0.003
    assert len(fired_at) == 6 and len({minute_of(t) for t in fired_at}) == 6
    assert fired_at[0] == START  # like huey: the current minute fires at start
    for moment in fired_at[1:]:
        assert moment % 60 < 0.01  # woken at the boundary, whatever the interval


def test_a_clock_stepping_back_never_fires_a_minute_twice():
    huey, _ = make_huey()
    clock = SimulatedClock(START)
    scheduler = make_scheduler(huey, clock)
    scheduler.step(START)
    scheduler.step(START + 30)  # 10:01:07
    scheduler.step(START - 60)  # NTP steps back to 09:59:37
    scheduler.step(START + 1)
    assert enqueued_names(huey)["every_minute"] == 2


def test_the_last_minute_survives_a_replacement():
    huey, _ = make_huey()
    clock = SimulatedClock(START)
    slot = LocalSlot()
    make_scheduler(huey, clock, slot=slot).step(START)
    replacement = make_scheduler(huey, clock, slot=slot)  # same minute, new role
    replacement.step(START + 5)
    assert enqueued_names(huey)["every_minute"] == 1


def test_no_periodic_tasks_when_disabled():
    huey, _ = make_huey()
    clock = SimulatedClock(START)
    scheduler = make_scheduler(huey, clock, periodic=False)
    fired = run_for(scheduler, clock, 180, lambda now, wait: now + wait + 0.003)
    assert len(fired) == 4 and enqueued_names(huey) == Counter()


@pytest.mark.parametrize("interval", [1, 60])
def test_wakes_at_the_eta_of_a_scheduled_task(interval):
    huey, later = make_huey()
    clock = SimulatedClock(START)
    scheduler = make_scheduler(huey, clock, interval, periodic=False)
    scheduler.step(START)
    eta = START + 2.5
    huey.storage.add_to_schedule(huey.serialize_task(later.s()), eta)
    steps = []
    while clock.now < START + 5:
        steps.append(clock.now)
        clock.now += scheduler.step(clock.now)
    assert eta in steps  # woken exactly at the eta, not at the next tick
    assert enqueued_names(huey)["later"] == 1
    assert huey.scheduled_count() == 0


def test_a_due_entry_added_between_steps_moves_within_a_second():
    huey, later = make_huey()
    clock = SimulatedClock(START)
    scheduler = make_scheduler(huey, clock, interval=60, periodic=False)
    assert scheduler.step(START) == BEAT_EVERY  # nothing scheduled: back in a second
    huey.storage.add_to_schedule(huey.serialize_task(later.s()), START + 0.2)
    assert scheduler.step(START + 1) == 0  # sees the overdue entry: go again at once
    scheduler.step(START + 1)
    assert enqueued_names(huey)["later"] == 1 and huey.scheduled_count() == 0


def test_localtime_matches_crontabs_in_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+5:30, no DST
    time.tzset()
    try:
        huey = hueyd.MemoryHuey("local")

        @huey.periodic_task(crontab(minute="30", hour="15"))
        def afternoon():
            pass

        ten_utc = calendar.timegm((2024, 5, 1, 10, 0, 0))  # 15:30 in Kolkata
        for utc, expected in ((False, 1), (True, 0)):
            clock = SimulatedClock(ten_utc)
            make_scheduler(huey, clock, utc=utc).step(ten_utc + 1)
            assert enqueued_names(huey)["afternoon"] == expected
            huey.flush()
    finally:
        monkeypatch.undo()
        time.tzset()


def test_consumers_sharing_a_queue_enqueue_each_periodic_task_once(redis_url):
    """Two hosts' schedulers on one Redis: every periodic task once per minute in all."""
    hueys = [hueyd.RedisHuey("shared-periodic", url=redis_url) for _ in range(2)]
    for huey in hueys:
        huey.periodic_task(crontab(), name="every_minute")(lambda: None)
    clock = SimulatedClock(START)
    schedulers = [make_scheduler(huey, clock) for huey in hueys]
    for _ in range(3):  # three minutes, both schedulers step in each
        for scheduler in schedulers:
            scheduler.loop()
        clock.now += 60
    assert hueys[0].storage.queue_size() == 3
    for huey in hueys:
        huey.storage.close()
