"""PostgresHuey on a real PostgreSQL 15 the suite starts: huey's storage interface (the
same tests as memory, SQLite and Redis), huey's tables, takes that never collide across
processes, LISTEN/NOTIFY waking a blocked dequeue, and tasks end to end."""
from __future__ import annotations

import functools
import threading
import time
import uuid

import pytest

import hueyd
from hueyd.storage import PostgresStorage
from tests.unit.test_storage_file import assert_taken_once_by_processes
from tests.unit.test_storage_huey_interface import (  # noqa: F401 (collected here too)
    test_counters_are_atomic_across_threads,
    test_key_value_returns_emptydata_and_dicts,
    test_queue_speaks_bytes_and_takes_without_a_lease,
    test_schedule_takes_datetimes_in_the_hueys_clock,
    test_wait_result_sees_a_value_written_later,
)


@pytest.fixture
def make_huey(postgres_server):
    """The interface tests above, on a PostgresHuey (a queue name of the test's own)."""
    made = []

    def factory(name="test", **kw):
        huey = hueyd.PostgresHuey(f"{name}-{uuid.uuid4().hex[:8]}", dsn=postgres_server.dsn,
                                  blocking=False, **kw)
        made.append(huey)
        return huey
    yield factory
    for huey in made:
        huey.storage.flush_all()
        huey.storage.close()


def test_tasks_end_to_end_with_priorities(make_huey):
    huey = make_huey("tasks")
    assert isinstance(huey.storage, PostgresStorage)

    @huey.task()
    def job(tag):
        return tag.upper()

    handles = [job.s(tag, priority=p) for tag, p in (("low", 1), ("high", 9), ("none", None))]
    results = [huey.enqueue(h) for h in handles]
    order = []
    while (task := huey.dequeue()) is not None:
        order.append(task.args[0])
        huey.execute(task)
    assert order == ["high", "low", "none"]
    assert [r.get() for r in results] == ["LOW", "HIGH", "NONE"]
    assert huey.storage.put_if_empty("lock", b"1") is True
    with pytest.raises(NotImplementedError):  # as huey's PostgresStorage
        huey.storage.put_if_empty("other", b"1", ttl=5)
    # the scheduler's TTL'd claims still work: the adapter keeps the TTL itself
    assert huey.backend.put_if_empty("claim", b"1", ttl=0.1) is True
    assert huey.backend.put_if_empty("claim", b"1", ttl=0.1) is False


def test_hueys_tables(make_huey, postgres_server):
    import psycopg2
    make_huey("tables", table_prefix="my-app")  # not a valid identifier: cleaned as huey does
    with psycopg2.connect(postgres_server.dsn) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'myapp_%'")
        assert {r[0] for r in cursor.fetchall()} == {"myapp_kv", "myapp_schedule",
                                                     "myapp_task", "myapp_counter"}


def test_several_processes_take_each_message_once(postgres_server):
    name = f"mp-{uuid.uuid4().hex[:8]}"
    assert_taken_once_by_processes(functools.partial(
        PostgresStorage, name, dsn=postgres_server.dsn, blocking=False), count=400)


def test_a_blocked_dequeue_wakes_on_notify(postgres_server):
    name = f"wake-{uuid.uuid4().hex[:8]}"
    waiting = PostgresStorage(name, dsn=postgres_server.dsn, read_timeout=20)
    producer = PostgresStorage(name, dsn=postgres_server.dsn)
    started = time.monotonic()
    assert PostgresStorage(name, dsn=postgres_server.dsn, read_timeout=0.3).dequeue() is None
    assert 0.25 < time.monotonic() - started < 5, "an empty wait lasts read_timeout"
    timer = threading.Timer(0.3, producer.enqueue, (b"hello",))
    timer.start()
    started = time.monotonic()
    try:
        assert waiting.dequeue() == b"hello"
        assert time.monotonic() - started < 5, "woken by NOTIFY, not by the 20 s timeout"
    finally:
        timer.cancel()
        waiting.close()
        producer.close()


def test_an_unreachable_server_is_a_storage_error(postgres_server):
    from hueyd.storage import StorageError
    storage = PostgresStorage("x", dsn=postgres_server.dsn)
    storage.dsn = f"host=127.0.0.1 port={postgres_server.port + 1} dbname=x connect_timeout=2"
    storage.close()
    with pytest.raises(StorageError, match="postgres"):
        storage.queue_size()
