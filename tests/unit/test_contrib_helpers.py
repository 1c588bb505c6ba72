"""``hueyd.contrib.helpers``: RedisSemaphore and lock_task_semaphore on a real Redis."""
from __future__ import annotations

import threading
import time

import pytest

from hueyd import ConfigurationError, MemoryHuey, RedisHuey, TaskLockedException
from hueyd.contrib.helpers import RedisSemaphore, lock_task_semaphore
from tests.helpers import wait_for


@pytest.fixture
def huey(redis_url):
    huey = RedisHuey("sem", url=redis_url)
    yield huey
    huey.storage.close()


def test_places_are_counted_and_given_back(huey):
    sem = RedisSemaphore(huey, "a", 2)
    first, second = sem.acquire(), sem.acquire()
    assert first and second and first != second
    assert sem.acquire() is None  # both places held
    assert sem.release(second) == 1
    assert sem.release(second) == 0  # released already
    assert sem.acquire(second) == second
    assert sem.acquire(second) == second  # a holder asking again keeps its one place
    assert sem.acquire() is None
    assert sem.key == "sem.lock.a" and sem.key in huey.known_locks


def test_twenty_threads_five_places(huey):
    sem = RedisSemaphore(huey, "c", 5)
    barrier = threading.Barrier(20)
    got: list[str] = []

    def take():
        barrier.wait()
        name = sem.acquire()
        if name:
            got.append(name)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(got) == 5
    assert huey.storage.conn.zcard(sem.key) == 5


def test_an_unrenewed_place_expires(huey):
    sem = RedisSemaphore(huey, "e", 1, timeout=0.5)
    lost = sem.acquire()
    assert lost and sem.acquire() is None
    other = wait_for(sem.acquire, 5, interval=0.05, message="the stale place to expire")
    assert not sem.renew(lost)  # the expired holder cannot renew its way back
    assert sem.renew(other)


def test_lock_task_semaphore_renews_while_running_and_refuses_when_full(huey):
    inside = threading.Event()

    @lock_task_semaphore(huey, "r", 1, timeout=0.6)
    def slow():
        inside.set()
        time.sleep(1.0)  # longer than the timeout: only renewal keeps the place
        return "done"

    sem = RedisSemaphore(huey, "r", 1, timeout=0.6)
    result = {}
    runner = threading.Thread(target=lambda: result.update(value=slow()))
    runner.start()
    assert inside.wait(5)
    time.sleep(0.8)  # let the timeout pass: only the renewals keep the place held
    assert sem.acquire() is None
    with pytest.raises(TaskLockedException):
        slow()
    runner.join(5)
    assert result == {"value": "done"}
    assert huey.storage.conn.zcard(sem.key) == 0


def test_a_storage_without_redis_fails_at_first_use():
    sem = RedisSemaphore(MemoryHuey("m"), "m", 1)  # built fine, as in huey
    with pytest.raises(ConfigurationError, match="Redis storage"):
        sem.acquire()
