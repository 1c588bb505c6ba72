"""Bulk enqueue (hueyd/api/bulk.py): ``task.map`` and ``huey.enqueue_many`` on every
storage: order, results, signals, priorities, immediate mode, a task that cannot be
enqueued mid-batch, and one storage step per batch."""
from __future__ import annotations

import threading

import pytest

import hueyd
from hueyd import EnqueueManyError, ResultGroup
from hueyd.api import bulk
from hueyd.signals import SIGNAL_ENQUEUED
from hueyd.storage.base import Storage
from hueyd.storage.memory import MemoryStorage
from tests.unit.test_api_support import drain


def test_map_queues_in_order_and_returns_a_result_group(make_huey):
    huey = make_huey()

    @huey.task()
    def square(x, y=1):
        return x * x * y

    group = square.map([1, 2, (3, 2)] + list(range(10, 1510)))
    assert isinstance(group, ResultGroup) and len(group) == 1503
    assert huey.pending_count() == 1503
    assert [t.args for t in huey.pending(3)] == [(1,), (2,), (3, 2)]
    taken = drain(huey, limit=2000)
    assert [t.id for t in taken] == [r.id for r in group]
    assert group.get()[:4] == [1, 4, 18, 100]


def test_enqueue_many_signals_each_task_and_keeps_pipelines(make_huey):
    huey = make_huey()
    seen: list[str] = []
    huey.signal(SIGNAL_ENQUEUED)(lambda signal, task: seen.append(task.id))

    @huey.task()
    def add(a, b):
        return a + b

    tasks = [add.s(1, 2), add.s(3, 4).then(add, 10), add.s(5, 6)]
    group = huey.enqueue_many(tasks)
    assert seen == [t.id for t in tasks]
    handles = list(group)
    assert isinstance(handles[1], ResultGroup) and len(handles[1]) == 2  # a pipeline's stages
    drain(huey)
    assert [h.get() for h in handles] == [3, [7, 17], 11]


def test_enqueue_many_without_results_returns_none(make_huey):
    huey = make_huey(results=False)

    @huey.task()
    def noop(x):
        pass

    assert noop.map(range(5)) is None
    assert huey.pending_count() == 5


def test_priorities_order_the_bulk(request, storage_kind, tmp_path):
    if storage_kind == "redis":  # a plain RedisHuey refuses priorities: its sorted-set variant
        huey = hueyd.PriorityRedisHuey("bulk", url=request.getfixturevalue("redis_url"))
    else:
        huey = request.getfixturevalue("make_huey")()

    @huey.task()
    def job(tag):
        return tag

    huey.enqueue_many(job.s(tag, priority=p) for tag, p in
                      (("low", 1), ("none", None), ("high", 10), ("mid", 5), ("high-2", 10)))
    assert [t.args[0] for t in drain(huey)] == ["high", "high-2", "mid", "low", "none"]


def test_a_plain_redis_huey_refuses_a_priority_naming_the_task(make_huey, storage_kind):
    if storage_kind != "redis":
        pytest.skip("only a plain RedisHuey refuses priorities")
    huey = make_huey()

    @huey.task()
    def job(tag):
        return tag

    with pytest.raises(EnqueueManyError, match=r"task 2 .*NotImplementedError") as caught:
        huey.enqueue_many([job.s(0), job.s(1), job.s(2, priority=3), job.s(3)])
    assert caught.value.enqueued == 2 and huey.pending_count() == 2


def test_a_task_that_cannot_be_serialized_mid_batch_is_named(make_huey):
    """The 1,500th task's argument does not pickle: the error names it (its place and
    id), the 1,499 before it are queued (a full batch and part of the next), none after."""
    huey = make_huey()

    @huey.task()
    def job(x):
        return x

    tasks = [job.s(i) for i in range(3000)]
    tasks[1499] = bad = job.s(threading.Lock())
    with pytest.raises(EnqueueManyError) as caught:
        huey.enqueue_many(tasks)
    error = caught.value
    assert error.index == 1499 and error.task is bad and error.enqueued == 1499
    assert bad.id in str(error) and "task 1499" in str(error)
    assert isinstance(error.__cause__, TypeError)
    assert len(error.results) == 1499
    assert huey.pending_count() == 1499
    assert [t.args[0] for t in drain(huey, limit=2000)] == list(range(1499))


def test_immediate_mode_runs_each_task_in_order(make_huey):
    huey = make_huey(immediate=True)
    ran: list[int] = []

    @huey.task()
    def job(x):
        ran.append(x)
        return x * 2

    group = job.map(range(5))
    assert ran == [0, 1, 2, 3, 4]
    assert group.get() == [0, 2, 4, 6, 8]


def test_one_storage_step_per_batch(make_huey, monkeypatch):
    huey = make_huey()
    steps: list[int] = []
    write = type(huey.backend).send_many

    def counted(storage, messages):
        steps.append(len(messages))
        return write(storage, messages)

    monkeypatch.setattr(type(huey.backend), "send_many", counted)

    @huey.task()
    def job(x):
        return x

    job.map(range(bulk.BATCH * 2 + 5))
    assert steps == [bulk.BATCH, bulk.BATCH, 5]


def test_redis_writes_a_batch_in_one_command(redis_url):
    import redis

    huey = hueyd.RedisHuey("bulk", url=redis_url)
    client = redis.Redis.from_url(redis_url)
    client.config_resetstat()

    @huey.task()
    def job(x):
        return x

    job.map(range(bulk.BATCH))
    stats = client.info("commandstats")
    assert stats["cmdstat_lpush"]["calls"] == 1
    assert huey.pending_count() == bulk.BATCH


def test_the_default_enqueue_many_loops_over_enqueue():
    """A storage without its own enqueue_many (another backend) still queues in order."""
    class Plain(MemoryStorage):
        enqueue_many = Storage.enqueue_many

    storage = Plain("plain")
    storage.enqueue_many([(b"a", None), (b"b", 5), (b"c", 0)])
    assert storage.enqueued_items() == [b"b", b"a", b"c"]
