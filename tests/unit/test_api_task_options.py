"""huey 3.x's per-task options, audited against huey 3.5.4's guide and API docs:
``timeout=`` with the cooperative check in a thread worker (guide, "Cooperative
Timeout"), ``periodic_task``'s arguments in huey's order, ``lock_task(ttl=)`` on a
Redis without hash-field TTLs (Debian 12's 7.0), asked of the server itself."""
from __future__ import annotations

import time

import pytest

import hueyd
from hueyd import TaskException, crontab
from hueyd import signals as S
from hueyd.consumer import Consumer
from tests.helpers import wait_for
from tests.unit.test_api_support import Recorder


@pytest.fixture
def thread_consumer():
    """Start a real Consumer with thread workers on a Huey; stopped gracefully after."""
    started = []

    def start(huey):
        consumer = Consumer(huey, workers=2, worker_type="thread", max_delay=0.1,
                            periodic=False)
        consumer.start()
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        consumer.stop(graceful=True)


def test_cooperative_timeout_in_a_thread_worker(make_huey, thread_consumer):
    """guide.rst: ``task.check_timeout()`` raises TaskTimeout once ``timeout`` passed;
    ``time_remaining`` counts down; SIGNAL_TIMEOUT fires; the caller gets TaskException."""
    huey = make_huey()
    seen = Recorder()
    huey.signal(S.SIGNAL_TIMEOUT)(seen)

    @huey.task(timeout=0.3, context=True)
    def process_report(batches, task=None):
        remaining = [task.time_remaining]
        give_up = time.monotonic() + 10
        while time.monotonic() < give_up:
            task.check_timeout()
            remaining.append(task.time_remaining)
            time.sleep(0.02)
        return remaining

    @huey.task(context=True)
    def budget(task=None):
        return task.time_remaining, task.is_timed_out

    timed_out = process_report(5)
    per_call = budget(timeout=60)  # per invocation, as huey's guide shows
    unlimited = budget()
    thread_consumer(huey)
    with pytest.raises(TaskException) as info:
        timed_out.get(blocking=True, timeout=15)
    assert "TaskTimeout" in info.value.metadata["error"]
    left, late = per_call.get(blocking=True, timeout=15)
    assert 50 < left <= 60 and late is False
    assert unlimited.get(blocking=True, timeout=15) == (float("inf"), False)
    wait_for(lambda: seen.signals() == [S.SIGNAL_TIMEOUT], 5, message="SIGNAL_TIMEOUT")


def test_periodic_task_takes_hueys_arguments_in_hueys_order():
    huey = hueyd.MemoryHuey("p")

    @huey.periodic_task(crontab(minute="0"), 2, 10, 3, 7, False, "nightly", 60, 30)
    def nightly():
        return 1

    task = nightly.s()
    assert (task.name, task.retries, task.retry_delay, task.retry_backoff, task.priority,
            task.expires, task.timeout) == ("nightly", 2, 10, 3, 7, 60, 30)


@pytest.mark.parametrize("flavour", ["RedisHuey", "RedisExpireHuey"])
def test_lock_ttl_on_a_redis_without_hash_field_ttls(flavour, redis_url):
    """huey needs HEXPIRE (Redis 7.4) for a lock's TTL and raises NotImplementedError
    without it; hueyd keeps such a lock in a string key of its own, which any Redis
    expires, so nothing depends on the server's version (this suite's is Debian 12's
    7.0, which has no HEXPIRE)."""
    huey = getattr(hueyd, flavour)("locks", url=redis_url)
    lock = huey.lock_task("report", ttl=1)
    lock.acquire()
    with pytest.raises(hueyd.TaskLockedException):
        huey.lock_task("report").acquire()
    wait_for(lambda: not huey.is_locked("report"), timeout=5, message="the lock's TTL")
    with huey.lock_task("report", ttl=30):
        assert huey.is_locked("report")
    assert not huey.is_locked("report")
    huey.storage.close()
