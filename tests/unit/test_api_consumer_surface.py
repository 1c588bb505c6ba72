"""What the consumer drives: dequeue, execute (+ack), requeue, enqueue_due, read_schedule,
read_periodic, next_scheduled_time, replace_storage."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from hueyd import crontab
from tests.unit.test_api_support import drain


def test_dequeue_keeps_the_receipt_and_execute_acks(make_huey):
    huey = make_huey()

    @huey.task()
    def job():
        return "x"

    job()
    task = huey.dequeue()
    assert task.message is not None and task.message.data
    huey.execute(task)
    assert task.message is None
    assert huey.dequeue() is None


def test_interrupted_task_is_not_acked_and_can_be_requeued(make_huey):
    huey = make_huey()
    runs = []

    @huey.task()
    def stoppable():
        runs.append(1)
        if len(runs) == 1:
            raise KeyboardInterrupt  # what a hard stop looks like inside a task

    result = stoppable()
    task = huey.dequeue()
    with pytest.raises(KeyboardInterrupt):
        huey.execute(task)
    assert task.message is not None  # still ours: nothing was acked
    huey.hand_back(task)
    assert len(huey) == 1
    drain(huey)
    assert len(runs) == 2 and result() is None and huey.result_count() == 0


def test_requeue_before_execution(make_huey):
    huey = make_huey()

    @huey.task()
    def job(n):
        return n

    job(1)
    job(2)
    first = huey.dequeue()
    huey.hand_back(first)
    # storage contract: a requeued message goes back to the head of the queue
    assert [t.args for t in drain(huey)] == [(1,), (2,)]


def test_requeue_of_a_task_without_message_enqueues_it(make_huey):
    huey = make_huey()

    @huey.task()
    def job():
        return 3

    task = job.s()
    huey.hand_back(task)
    drain(huey)
    assert huey.result(task.id) == 3


def test_dequeue_waits_at_most_its_timeout(make_huey):
    huey = make_huey()
    started = time.monotonic()
    assert huey.dequeue(timeout=0.3) is None
    elapsed = time.monotonic() - started
    assert elapsed < 2
    if huey.storage.blocking:
        assert elapsed >= 0.25


def test_future_task_goes_to_schedule_and_enqueue_due_moves_it(make_huey, storage_kind):
    huey = make_huey()
    if storage_kind == "redis":  # a plain RedisHuey refuses priorities, as huey's does
        huey = make_huey("prio", storage_class="hueyd.storage.redis:PriorityRedisStorage")

    @huey.task(priority=5)
    def later(n):
        return n

    result = later.schedule((1,), delay=100)
    task = huey.dequeue()
    huey.execute(task)  # not due: moved to the schedule, message acked
    assert huey.pending_count() == 0 and huey.scheduled_count() == 1
    eta = huey.next_scheduled_time()
    assert eta == pytest.approx(time.time() + 100, abs=5)
    assert huey.enqueue_due(eta - 1) == 0
    assert huey.enqueue_due(eta) == 1
    assert huey.scheduled_count() == 0 and huey.next_scheduled_time() is None
    [queued] = huey.pending()
    assert queued.id == result.id and queued.priority == 5
    drain(huey, eta)
    assert result() == 1


def test_enqueue_due_accepts_datetimes_in_the_huey_clock(make_huey):
    huey = make_huey()

    @huey.task()
    def later():
        pass

    later.schedule(delay=100)
    drain(huey)
    utc_now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert huey.enqueue_due(utc_now + dt.timedelta(seconds=50)) == 0
    assert huey.enqueue_due(utc_now + dt.timedelta(seconds=101)) == 1


def test_read_schedule_returns_due_tasks_and_dead_letters_garbage(make_huey):
    huey = make_huey()

    @huey.task()
    def later(n):
        return n

    later.schedule((1,), delay=10)
    later.schedule((2,), delay=1000)
    drain(huey)
    huey.storage.add_to_schedule(b"garbage", time.time() - 1)
    due = huey.read_schedule(time.time() + 11)
    assert [t.args for t in due] == [(1,)]
    assert huey.scheduled_count() == 1
    assert huey.storage.dead_letter_count() == 1


def test_read_periodic_matches_crontabs_at_the_given_instant(make_huey):
    huey = make_huey()

    @huey.periodic_task(crontab(minute="*/5"))
    def every_five():
        return "tick"

    @huey.periodic_task(crontab(minute="0", hour="3"))
    def nightly():
        return "night"

    at_0305 = dt.datetime(2024, 5, 1, 3, 5)
    at_0300 = dt.datetime(2024, 5, 1, 3, 0)
    assert [t.name for t in huey.read_periodic(at_0305)] == ["every_five"]
    assert sorted(t.name for t in huey.read_periodic(at_0300)) == ["every_five", "nightly"]
    posix = at_0300.replace(tzinfo=dt.UTC).timestamp()
    assert len(huey.read_periodic(posix)) == 2  # a float is read in the Huey's (UTC) clock
    for task in huey.read_periodic(at_0300):
        huey.enqueue(task)
    drain(huey)
    assert huey.result_count() == 0  # periodic tasks store no results


def test_periodic_task_can_be_called_directly(make_huey):
    huey = make_huey()

    @huey.periodic_task(crontab(), retries=1)
    def sweep():
        return "swept"

    sweep()
    assert [t.name for t in drain(huey)] == ["sweep"]


def test_replace_storage_merges_kwargs(make_huey, storage_kind, tmp_path):
    huey = make_huey()
    old = huey.storage
    if storage_kind == "sqlite":
        new = huey.replace_storage(filename=str(tmp_path / "moved.db"))
        assert huey.storage_kwargs["filename"].endswith("moved.db")
    else:
        new = huey.replace_storage()
    assert new is huey.storage and new is not old

    @huey.task()
    def job():
        return 1

    result = job()
    drain(huey)
    assert result() == 1


def test_task_names_lists_registered_tasks(make_huey):
    huey = make_huey()

    @huey.task()
    def one():
        pass

    @huey.task(name="two")
    def second():
        pass

    assert huey.task_names == [f"{one.func.__module__}.one", f"{one.func.__module__}.two"]
