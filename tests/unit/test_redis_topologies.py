"""Issue 18: results, locks, rate limits, revocations, schedules, periodic claims, key/value
entries and dead letters on Sentinel and on Cluster (every key of a queue in one slot, every
script given all its keys), driven in-process as a consumer would. One topology of
real servers per parameter (tests/redis_ha.py), shared by the module.
"""
from __future__ import annotations

import time

import pytest

import hueyd
from hueyd import TaskException, TaskLockedException
from tests.redis_ha import ClusterGroup, SentinelGroup
from tests.unit.test_api_support import drain, run_due


@pytest.fixture(scope="module", params=["sentinel", "cluster"])
def topology(request):
    group = SentinelGroup() if request.param == "sentinel" else ClusterGroup()
    try:
        yield group
    finally:
        group.cleanup()


@pytest.fixture
def huey(topology, request):
    made = hueyd.RedisHuey(f"api-{request.node.name[-12:]}", url=topology.url)
    made.storage.start_consuming()
    yield made
    made.storage.stop_consuming()
    made.storage.close()


def test_results_schedules_revocations_and_locks(huey):
    @huey.task()
    def add(a, b):
        return a + b

    @huey.task()
    @huey.lock_task("exclusive")
    def guarded():
        return "ran"

    assert huey.storage.location.startswith(("sentinel service", "cluster slot"))
    result = add(1, 2)
    drain(huey)
    assert result.get() == 3
    later = add.schedule((2, 3), delay=30)
    drain(huey)  # not due: the worker puts it on the schedule
    assert huey.scheduled_count() == 1
    run_due(huey, 31)
    assert later.get() == 5
    revoked = add(4, 5)
    revoked.revoke()
    drain(huey)
    assert revoked.get() is None
    with huey.lock_task("exclusive"):
        blocked = guarded()
        drain(huey)
    with pytest.raises(TaskException, match="TaskLockedException"):
        blocked.get()
    with pytest.raises(TaskLockedException):
        with huey.lock_task("exclusive"), huey.lock_task("exclusive"):
            pass


def test_claims_key_values_and_dead_letters(huey):
    storage = huey.backend  # hueyd's contract (huey.storage speaks huey's interface)
    assert storage.put_if_empty("periodic:tick:202612042200", b"1", ttl=60)
    assert not storage.put_if_empty("periodic:tick:202612042200", b"1", ttl=60)
    assert [storage.count_in_window("rate:api", 7) for _ in range(2)] == [1, 2]  # rate limits
    storage.put_data("k", b"v")
    assert storage.peek_many(["k", "missing"]) == [b"v", None]
    assert storage.pop_data("k") == b"v"
    storage.add_dead_letter(b"poison", "test", time.time())
    assert [letter.data for letter in storage.dead_letters()] == [b"poison"]
    assert storage.requeue_dead_letters() == 1 and storage.queue_size() == 1
    storage.add_dead_letter(b"again", "test", time.time())
    assert storage.purge_dead_letters() == 1 and storage.dead_letter_count() == 0
    message = storage.dequeue()
    storage.ack(message)
    assert [c.in_flight for c in storage.consumers()] == [0]
