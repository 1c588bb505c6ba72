"""PostgresHuey on a real PostgreSQL 15 the suite starts (the storage contract and the
lease tests run on it too: test_storage_contract.py, test_storage_leases.py): huey's
storage interface (the same tests as memory, SQLite and Redis), hueyd's tables, takes
that never collide across processes, LISTEN/NOTIFY waking a blocked take, errors."""
from __future__ import annotations

import functools
import threading
import time
import uuid

import pytest

import hueyd
from hueyd.storage import PostgresStorage, StorageError
from tests.unit.test_storage_file import assert_taken_once_by_processes
from tests.unit.test_storage_huey_interface import (  # noqa: F401 (collected here too)
    test_a_hueyd_storage_and_its_view_go_back_in_as_either,
    test_counters_are_atomic_across_threads,
    test_flush_all_and_the_backends_own_attributes,
    test_key_value_returns_emptydata_and_dicts,
    test_put_if_empty_with_a_ttl,
    test_queue_speaks_bytes_and_takes_without_a_lease,
    test_schedule_takes_datetimes_in_the_hueys_clock,
    test_wait_result_sees_a_value_written_later,
)


@pytest.fixture
def storage_kind():
    return "postgres"


@pytest.fixture
def make_huey(postgres_server):
    """The interface tests above, on a PostgresHuey (a queue name of the test's own)."""
    made = []

    def factory(name="test", **kw):
        kw.setdefault("table_prefix", f"t{uuid.uuid4().hex[:10]}")
        huey = hueyd.PostgresHuey(name, dsn=postgres_server.dsn, **kw)
        made.append(huey)
        return huey
    yield factory
    for huey in made:
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
    with huey.lock_task("nightly", ttl=30), pytest.raises(hueyd.TaskLockedException), \
            huey.lock_task("nightly"):
        pass


def test_table_prefix_is_cleaned_as_hueys(make_huey, postgres_server):
    import psycopg2
    make_huey("tables", table_prefix="my-app").storage.queue_size()  # tables made on first use
    with psycopg2.connect(postgres_server.dsn) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'myapp_%'")
        assert {r[0] for r in cursor.fetchall()} == {
            "myapp_queue", "myapp_consumer", "myapp_schedule", "myapp_kv",
            "myapp_dead_letter", "myapp_counter"}


def test_several_processes_take_each_message_once(postgres_server):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    assert_taken_once_by_processes(lambda: hueyd.PostgresHuey(
        "mp", dsn=postgres_server.dsn, table_prefix=prefix).storage, count=400)


def test_a_blocked_take_wakes_on_notify(postgres_server):
    make = functools.partial(PostgresStorage, "wake", dsn=postgres_server.dsn,
                             table_prefix=f"t{uuid.uuid4().hex[:10]}")
    waiting, producer = make(), make()
    started = time.monotonic()
    assert waiting.dequeue(0.3) is None
    assert 0.25 < time.monotonic() - started < 5, "an empty wait lasts its timeout"
    timer = threading.Timer(0.3, producer.enqueue, (b"hello",))
    timer.start()
    started = time.monotonic()
    try:
        message = waiting.dequeue(20)
        assert message is not None and message.data == b"hello"
        assert time.monotonic() - started < 5, "woken by NOTIFY, not by the 20 s timeout"
        waiting.ack(message)
    finally:
        timer.cancel()
        waiting.close()
        producer.close()


def test_an_unreachable_server_is_a_storage_error(postgres_server):
    storage = PostgresStorage("x", dsn=f"host=127.0.0.1 port={postgres_server.port + 1} "
                                       "dbname=x connect_timeout=2")  # nothing connects yet
    with pytest.raises(StorageError, match="postgres at 127.0.0.1:"):
        storage.queue_size()
    with pytest.raises(StorageError):
        storage.ping()
