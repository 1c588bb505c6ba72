"""Each Huey flavour builds its storage lazily, with huey's storage keyword arguments."""
from __future__ import annotations

import pytest

import hueyd
from tests.helpers import wait_for
from tests.unit.test_api_support import drain


@pytest.mark.parametrize("flavour,storage", [
    ("RedisHuey", "RedisStorage"),
    ("PriorityRedisHuey", "PriorityRedisStorage"),
    ("RedisExpireHuey", "RedisExpireStorage"),
    ("PriorityRedisExpireHuey", "PriorityRedisExpireStorage"),
])
def test_redis_flavours(redis_url, flavour, storage):
    huey = getattr(hueyd, flavour)("flavour", url=redis_url)
    try:
        assert type(huey.backend).__name__ == storage
        huey.storage.ping()
    finally:
        huey.storage.close()


def test_sqlite_and_memory_flavours(tmp_path):
    assert type(hueyd.SqliteHuey("s", filename=str(tmp_path / "s.db")).backend).__name__ == \
        "SqliteStorage"
    assert type(hueyd.MemoryHuey("m").backend).__name__ == "MemoryStorage"


def test_plain_huey_defaults_to_redis_with_a_warning(redis_url):
    with pytest.warns(UserWarning, match="storage_class"):
        huey = hueyd.Huey("plain", url=redis_url)
    assert type(huey.backend).__name__ == "RedisStorage"
    huey.storage.close()


def test_storage_class_argument_takes_a_class():
    from hueyd.storage.memory import MemoryStorage
    huey = hueyd.Huey("custom", storage_class=MemoryStorage)
    assert type(huey.backend) is MemoryStorage


def test_priority_redis_runs_higher_priority_first(redis_url):
    huey = hueyd.PriorityRedisHuey("prio", url=redis_url)

    @huey.task()
    def job(tag):
        return tag

    for tag, priority in (("low", 1), ("none", None), ("high", 10), ("mid", 5)):
        huey.enqueue(job.s(tag, priority=priority))
    assert [t.args[0] for t in drain(huey)] == ["high", "mid", "low", "none"]
    huey.storage.close()


def test_redis_expire_huey_forgets_results(redis_url):
    huey = hueyd.RedisExpireHuey("expiring", url=redis_url, expire_time=1)

    @huey.task()
    def job():
        return "soon gone"

    kept, dropped = job(), job()
    drain(huey)
    assert kept(preserve=True) == "soon gone"
    assert kept() == "soon gone"  # cached on the handle from now on
    wait_for(lambda: huey.result_count() == 0, timeout=5, message="results to expire")
    assert dropped() is None
    huey.storage.close()
