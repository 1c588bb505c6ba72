"""immediate mode: tasks run in-process, on in-memory storage unless told otherwise."""
from __future__ import annotations

import pytest

from hueyd import TaskException
from hueyd.signals import SIGNAL_COMPLETE, SIGNAL_ENQUEUED, SIGNAL_EXECUTING
from hueyd.storage.memory import MemoryStorage
from tests.unit.test_api_support import Recorder


def test_immediate_runs_at_call_time_on_memory(make_huey):
    huey = make_huey(immediate=True)
    assert isinstance(huey.storage, MemoryStorage)
    recorder = Recorder()
    huey.signal()(recorder)

    @huey.task()
    def add(a, b):
        return a + b

    @huey.task()
    def fail():
        raise ValueError("immediately")

    result = add(1, 2)
    assert result() == 3
    assert recorder.signals() == [SIGNAL_ENQUEUED, SIGNAL_EXECUTING, SIGNAL_COMPLETE]
    with pytest.raises(TaskException, match="immediately"):
        fail().get()
    assert huey.enqueue(add.s(1, 1).then(add, 5)).get() == [2, 7]
    assert len(huey) == 0


def test_setter_switches_storage_both_ways(make_huey, storage_kind):
    huey = make_huey()
    live = type(huey.backend)

    @huey.task()
    def echo(x):
        return x

    huey.immediate = True
    assert isinstance(huey.storage, MemoryStorage) and huey.immediate
    assert echo(5)() == 5
    huey.immediate = False
    assert type(huey.backend) is live and not huey.immediate
    pending = echo(6)
    assert len(huey) == 1 and pending() is None


def test_immediate_use_memory_false_keeps_the_real_storage(make_huey):
    huey = make_huey(immediate=True, immediate_use_memory=False)
    expected = {"memory": "MemoryStorage", "sqlite": "SqliteStorage", "redis": "RedisStorage"}
    assert type(huey.backend).__name__ in expected.values()

    @huey.task()
    def echo(x):
        return x

    assert echo("real")() == "real"


def test_immediate_scheduled_task_waits_in_the_schedule(make_huey):
    huey = make_huey(immediate=True)

    @huey.task()
    def later():
        return 1

    result = later.schedule(delay=60)
    assert result() is None and huey.scheduled_count() == 1
