"""The guard a worker puts around a task's own code (``Worker.interruptible``): one
object per worker, entered once per task, that marks the worker busy only inside the
task's code and measures that code's duration, also when it raises or is interrupted."""
from __future__ import annotations

import threading
import time

import pytest

import hueyd
from hueyd.consumer.heartbeat import make_slots
from hueyd.consumer.lane import Lane
from hueyd.consumer.role import WorkerInterrupted
from hueyd.consumer.worker import Worker


def worker_for(huey: hueyd.MemoryHuey, lane: Lane | None = None) -> Worker:
    worker = Worker(huey, make_slots(1, shared=False)[0], threading.Event(), lane=lane)
    worker.initialize()
    return worker


def test_one_guard_per_worker_busy_only_inside_the_tasks_code():
    huey = hueyd.MemoryHuey("guard")
    worker = worker_for(huey)
    seen = []

    @huey.task()
    def nap(seconds):
        seen.append(worker.busy)
        time.sleep(seconds)

    assert worker.interruptible() is worker.interruptible()  # not built per task
    nap(0.05)
    nap(0.0)
    worker.loop()
    assert seen == [True] and not worker.busy and 0.05 <= worker.last_run < 5
    assert worker.note.duration == worker.last_run
    worker.loop()
    assert seen == [True, True] and worker.last_run < 0.05


@pytest.mark.parametrize("lane", [None, Lane(patience=0.05)])
def test_a_task_that_raises_or_is_interrupted_still_leaves_the_guard(lane):
    huey = hueyd.MemoryHuey("guard-raise")
    worker = worker_for(huey, lane)

    @huey.task()
    def fails():
        raise ValueError("no")

    guard = worker.interruptible()
    result = fails()
    worker.loop()
    assert not worker.busy and worker.last_run < 5
    with pytest.raises(hueyd.TaskException):
        result.get()
    with pytest.raises(WorkerInterrupted):
        with guard:
            assert worker.busy
            raise WorkerInterrupted()
    assert not worker.busy and worker.last_run < 5
