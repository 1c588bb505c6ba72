"""take_ahead.py on the suite's redis-server: takes double while tasks are short, up to
AHEAD_MOST; a long task starts the count over and is acknowledged at once; a stop hands
back what was taken, in its order; nothing stays held once the worker closes."""
from __future__ import annotations

import logging

import hueyd
from hueyd.consumer.take_ahead import AHEAD_MOST, TakeAhead
from hueyd.ratelog import RateLimitedLog
from tests.unit.test_worker_round_trips import noop_app

ERRORS = RateLimitedLog(logging.getLogger("tests.take_ahead"))


def app(redis_url: str, name: str, tasks: int) -> tuple[hueyd.RedisHuey, list[int]]:
    huey, noop, ran, _ = noop_app(redis_url, name)
    for n in range(tasks):
        noop(n)
    return huey, ran


def run_one(taking: TakeAhead, huey: hueyd.RedisHuey, task, short: bool) -> None:
    """What Worker.run does around the task's own code: send, run, read the take."""
    previous, taking.finished = taking.finished, None
    taking.send(previous, short)
    huey.execute(task, finish=False)
    taking.finished = task
    taking.collect_take()


def test_takes_double_while_tasks_are_short_and_nothing_stays_held(redis_url):
    huey, ran = app(redis_url, "ahead-short", 40)
    taking = TakeAhead(huey, "Worker-1", ERRORS)
    sizes, most_ahead = [], 0
    while (task := taking.next(0.1)) is not None:
        run_one(taking, huey, task, short=True)
        sizes.append(taking.take_size)
        most_ahead = max(most_ahead, len(taking.ahead))
    taking.close()
    assert ran == list(range(40))
    assert sorted(set(sizes)) == [2, 4, AHEAD_MOST] and sizes == sorted(sizes)
    assert 1 < most_ahead <= AHEAD_MOST
    assert huey.pending_count() == 0 and huey.storage.stop_consuming() == 0  # all acknowledged


def test_a_long_task_starts_the_count_over_and_is_acknowledged_at_once(redis_url):
    huey, ran = app(redis_url, "ahead-long", 10)
    taking = TakeAhead(huey, "Worker-1", ERRORS)
    for _ in range(3):
        run_one(taking, huey, taking.next(0.1), short=True)
    assert taking.take_size > 1
    previous = taking.finished
    run_one(taking, huey, taking.next(0.1), short=False)
    assert taking.take_size == 1 and taking.pending is None
    assert previous.message is None  # acknowledged before the next task ran
    taking.close()
    assert huey.storage.stop_consuming() == 0  # nothing held


def test_a_stop_hands_back_what_was_taken_in_its_order(redis_url):
    huey, ran = app(redis_url, "ahead-stop", 12)
    taking = TakeAhead(huey, "Worker-1", ERRORS)
    for _ in range(3):
        run_one(taking, huey, taking.next(0.1), short=True)
    first = taking.next(0.1)
    taking.send(taking.finished, short=True)  # a take in flight when the stop comes
    taking.finished = None
    taking.put_back(first)  # not started: first in line
    taking.hand_back_all()
    assert not taking.ahead and taking.pending is None
    assert [t.args[0] for t in huey.pending()] == list(range(3, 12))
    assert ran == [0, 1, 2] and huey.storage.stop_consuming() == 0
