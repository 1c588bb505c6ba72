"""The lane thread workers share: one drains short CPU-bound tasks, the others park
before taking; nobody parks behind a long step."""
from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

import pytest

import hueyd
from hueyd.consumer.heartbeat import make_slots
from hueyd.consumer.lane import PARK_AT_MOST, Lane, waited
from hueyd.consumer.take_ahead import AHEAD_BELOW
from hueyd.consumer.worker import Worker
from tests.helpers import wait_for


def never() -> bool:
    return False


def test_parked_workers_wait_while_the_holder_steps_and_all_go_ahead_after_a_long_step():
    lane = Lane(patience=0.2)
    holder = object()
    assert lane.enter(holder, never) and lane.holder is holder
    went: list[object] = []

    def park() -> None:
        me = object()
        if lane.enter(me, never):
            went.append(me)

    threads = [threading.Thread(target=park) for _ in range(3)]
    for thread in threads:
        thread.start()
    # the holder keeps stepping (short steps): the others stay parked
    until = time.monotonic() + 0.6
    while time.monotonic() < until:
        lane.step(holder, keep=True)
        assert not went
        time.sleep(0.01)
    # a step longer than the patience: every parked one goes ahead, without the lane
    wait_for(lambda: len(went) == 3, 5, message=lambda: f"{len(went)} of 3 went ahead")
    assert lane.holder is holder and lane.crowded
    for thread in threads:
        thread.join(5)


def test_leaving_wakes_a_parked_worker_which_takes_the_lane():
    lane = Lane(patience=10)
    holder, other = object(), object()
    lane.enter(holder, never)
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(lane.enter(other, never)))
    thread.start()
    lane.step(holder, keep=False)  # its next task may wait: it leaves
    thread.join(5)
    assert got == [True] and lane.holder is other


def test_a_parked_worker_returns_to_its_loop_and_sees_a_stop():
    lane = Lane(patience=60)
    lane.enter(object(), never)
    started = time.monotonic()
    assert lane.enter(object(), never) is False  # still busy: back to the loop (heartbeat)
    assert PARK_AT_MOST <= time.monotonic() - started < PARK_AT_MOST + 5
    assert lane.enter(object(), lambda: True) is True  # stopping: no parking


def test_waiting_is_judged_by_the_share_of_time_off_the_cpu():
    assert not waited(0.001, 0.001)
    assert not waited(0.001, 0.0009)
    assert waited(0.003, 0.0002)  # a 3 ms network call
    assert waited(0.0005, 0.0)


def test_thread_workers_drain_cpu_bound_tasks_on_one_thread(redis_url):
    """Three thread workers, a queue of short CPU-bound tasks: after the first few, they
    run on one thread while the other two park (no GIL hand-offs between them)."""
    huey = hueyd.RedisHuey("lane", url=redis_url, read_timeout=0.1)
    ran_on: list[str] = []

    @huey.task()
    def compute(n):
        ran_on.append(threading.current_thread().name)
        return sum(range(200))

    tasks = 300
    for n in range(tasks):
        compute(n)
    run_workers(huey, 3, lambda: len(ran_on) == tasks)
    busiest, count = collections.Counter(ran_on).most_common(1)[0]
    assert count >= 0.8 * tasks, collections.Counter(ran_on)


def run_workers(huey: hueyd.RedisHuey, count: int, done: Callable[[], bool]) -> None:
    """``count`` real thread workers sharing one lane (as runtime_thread.py builds them)
    run the queue until ``done()``; then nothing is left queued or held."""
    huey.storage.start_consuming()
    lane, stop = Lane(patience=AHEAD_BELOW), threading.Event()
    slots = make_slots(count, shared=False)
    workers = [Worker(huey, slots[i], stop, f"Worker-{i + 1}", lane=lane)
               for i in range(count)]

    def run(worker: Worker) -> None:
        worker.initialize()
        while not stop.is_set():
            worker.loop()
        worker.shutdown()

    threads = [threading.Thread(target=run, args=(w,), name=w.name) for w in workers]
    for thread in threads:
        thread.start()
    try:
        wait_for(done, 60, message="the tasks to run")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert huey.storage.queue_size() == 0
    assert sum(c.in_flight for c in huey.storage.consumers()) == 0
    huey.storage.stop_consuming()


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most task runs in progress at one moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


@pytest.mark.parametrize("ms", [10, 3])
def test_waiting_tasks_keep_every_thread_worker_busy(redis_url, ms):
    """I/O-bound tasks (the bench's io-thread scenario; 3 ms: under the take-ahead
    bound, where the lane judges each task by its waits) run on all four workers at once:
    the lane never serializes tasks that wait. Judged by overlapping runs, not speed."""
    huey = hueyd.RedisHuey("lane-io", url=redis_url, read_timeout=0.1)
    spans: list[tuple[float, float]] = []

    @huey.task()
    def wait(n):
        started = time.monotonic()
        time.sleep(ms / 1000)
        spans.append((started, time.monotonic()))

    tasks = 120
    wait.map(range(tasks))
    run_workers(huey, 4, lambda: len(spans) == tasks)
    assert most_at_once(spans) == 4
    alone = [a for a in spans if not any(b is not a and b[0] < a[1] and a[0] < b[1]
                                         for b in spans)]
    assert len(alone) <= tasks // 4, f"{len(alone)} of {tasks} tasks ran with no other"
