"""The storage floor's shape: a folder per backend, Redis variants assembled from parts,
errors apart from the contract, and every public import path still working."""
from __future__ import annotations

import ast
import importlib
import os

import pytest

from hueyd.api import flavours
from hueyd.storage import errors

STORAGE = os.path.dirname(errors.__file__)


def runtime_imports(path: str) -> set[str]:
    """Modules a file imports when it runs (``if TYPE_CHECKING:`` blocks and imports
    inside functions apart)."""
    tree = ast.parse(open(path).read())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_contract_and_the_leases_do_not_import_each_other():
    assert "hueyd.storage.base" not in runtime_imports(os.path.join(STORAGE, "leases.py"))
    assert "hueyd.storage.leases" not in runtime_imports(os.path.join(STORAGE, "base.py"))
    from hueyd.storage import base
    assert base.StorageError is errors.StorageError
    assert issubclass(base.StorageUnusable, base.StorageRefused)


@pytest.mark.parametrize("flavour", ["MemoryHuey", "SqliteHuey", "RedisHuey", "RedisExpireHuey",
                                     "PriorityRedisHuey", "PriorityRedisExpireHuey"])
def test_the_api_loads_each_backend_by_its_dotted_path(flavour):
    module, _, name = getattr(flavours, flavour).storage_class.partition(":")
    assert getattr(importlib.import_module(module), name).__name__ == name


def test_sqlite_holds_its_lease_as_a_part(tmp_path):
    from hueyd.storage.leases import LeaseHolder
    from hueyd.storage.sqlite import SqliteStorage
    assert not any(issubclass(cls, LeaseHolder) for cls in SqliteStorage.__mro__)
    s = SqliteStorage("parts", filename=str(tmp_path / "q.db"))
    assert s.start_consuming("c-1") == "c-1" == s.consumer_id == s.leases.consumer_id
    s.close()


def test_redis_variants_only_name_their_parts():
    from hueyd.storage.redis import (
        PriorityRedisExpireStorage,
        PriorityRedisStorage,
        RedisExpireStorage,
        RedisStorage,
    )
    from hueyd.storage.redis.queues import ListQueue, PriorityQueue
    from hueyd.storage.redis.values import ExpiringValues, HashValues
    parts = {RedisStorage: (ListQueue, HashValues),
             PriorityRedisStorage: (PriorityQueue, HashValues),
             RedisExpireStorage: (ListQueue, ExpiringValues),
             PriorityRedisExpireStorage: (PriorityQueue, ExpiringValues)}
    for variant, (queue, values) in parts.items():
        assert (variant.queue_kind, variant.values_kind) == (queue, values)
        assert variant.priority is (queue is PriorityQueue)  # huey's flag follows the queue
        inherited = {cls.__module__ for cls in variant.__mro__}
        assert not inherited & {"hueyd.storage.redis.values", "hueyd.storage.redis.queues",
                                "hueyd.storage.redis.leases", "hueyd.storage.leases"}


def test_a_redis_storage_is_built_from_its_parts(redis_url):
    from hueyd.storage.redis import PriorityRedisExpireStorage
    from hueyd.storage.redis.leases import RedisLeases
    from hueyd.storage.redis.queues import PriorityQueue
    from hueyd.storage.redis.values import ExpiringValues
    s = PriorityRedisExpireStorage("parts", url=redis_url, expire_time=60)
    try:
        assert isinstance(s.queue, PriorityQueue) and isinstance(s.values, ExpiringValues)
        assert isinstance(s.leases, RedisLeases) and s.start_consuming("c") == s.consumer_id
        assert s.values.expire_time == 60 and s.expire_time == 60 and s.priority is True
        s.enqueue(b"low", 1)
        s.enqueue(b"high", 9)
        assert s.enqueued_items() == [b"high", b"low"]
        s.put_data("result", b"v", is_result=True)
        assert 0 < s.conn.pttl(s.keys.value("result")) <= 60_000
    finally:
        s.flush_all()
        s.close()
