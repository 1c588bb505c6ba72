"""huey's storage interface on ``huey.storage``, on memory, SQLite and Redis: code written
for huey that calls the storage directly gets huey's types (bytes from dequeue(),
datetimes for the schedule, EmptyData for a missing key, a dict from peek_many)."""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from hueyd.storage import BaseStorage, EmptyData


def test_queue_speaks_bytes_and_takes_without_a_lease(make_huey):
    huey = make_huey("iface")
    storage = huey.storage
    storage.enqueue(b"one")
    storage.enqueue(b"two")
    assert storage.queue_size() == 2
    assert storage.enqueued_items() == [b"one", b"two"]
    assert storage.enqueued_items(1) == [b"one"]
    assert storage.dequeue() == b"one"
    assert storage.dequeue() == b"two"
    assert storage.dequeue() is None
    # taken and acknowledged at once: nothing is held, nothing comes back
    assert huey.backend.stop_consuming() == 0
    assert storage.queue_size() == 0
    storage.enqueue(b"three")
    storage.flush_queue()
    assert storage.queue_size() == 0


def test_schedule_takes_datetimes_in_the_hueys_clock(make_huey):
    huey = make_huey("sched")
    storage = huey.storage
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # huey's clock: naive UTC
    storage.add_to_schedule(b"soon", now + dt.timedelta(seconds=1))
    storage.add_to_schedule(b"later", now + dt.timedelta(hours=1))
    assert storage.schedule_size() == 2
    assert storage.scheduled_items() == [b"soon", b"later"]
    assert storage.scheduled_items(1) == [b"soon"]
    assert storage.read_schedule(now) == []
    assert storage.read_schedule(now + dt.timedelta(seconds=2)) == [b"soon"]
    assert storage.schedule_size() == 1
    # the hueyd scheduler sees the same instants (POSIX): the later entry is not due
    assert huey.backend.move_due(now.replace(tzinfo=dt.UTC).timestamp() + 60) == 0
    storage.flush_schedule()
    assert storage.schedule_size() == 0


def test_key_value_returns_emptydata_and_dicts(make_huey):
    storage = make_huey("kv").storage
    assert storage.peek_data("missing") is EmptyData
    assert storage.pop_data("missing") is EmptyData
    assert storage.has_data_for_key("missing") is False
    storage.put_data("k1", b"v1")
    storage.put_data("k2", b"v2", is_result=True)
    assert storage.peek_data("k1") == b"v1"
    assert storage.peek_many(["k1", "k2", "nope"]) == {"k1": b"v1", "k2": b"v2"}
    assert storage.pop_data("k1") == b"v1"
    assert storage.peek_data("k1") is EmptyData
    assert storage.put_if_empty("lock", b"1") is True
    assert storage.put_if_empty("lock", b"2") is False
    assert storage.delete_data("lock") is True
    assert storage.delete_data("lock") is False
    assert storage.result_store_size() == 1
    assert storage.result_items() == {"k2": b"v2"}
    storage.flush_results()
    assert storage.result_store_size() == 0


def test_put_if_empty_with_a_ttl(make_huey):
    storage = make_huey("ttl").storage
    assert storage.supports_hash_ttl is True
    assert storage.put_if_empty("short", b"1", ttl=0.2) is True
    assert storage.put_if_empty("short", b"1", ttl=0.2) is False
    assert storage.wait_result("never", timeout=0.1) is False
    from tests.helpers import wait_for
    wait_for(lambda: storage.put_if_empty("short", b"2", ttl=5), timeout=5,
             message="the TTL to run out")


def test_counters_are_atomic_across_threads(make_huey):
    storage = make_huey("counters").storage
    assert storage.incr("c") == 1
    assert storage.incr("c", 4) == 5
    assert storage.incr("c", 0) == 5

    def bump():
        for _ in range(50):
            storage.incr("many")

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert storage.incr("many", 0) == 200
    storage.delete_counter("c")
    assert storage.incr("c", 0) == 0
    storage.flush_counters()
    assert storage.incr("many", 0) == 0
    assert storage.result_items() == {}  # counters are not values


def test_wait_result_sees_a_value_written_later(make_huey):
    storage = make_huey("wait").storage
    timer = threading.Timer(0.2, storage.put_data, ("late", b"1"))
    timer.start()
    try:
        assert storage.wait_result("late", timeout=10) is True
    finally:
        timer.cancel()


def test_flush_all_and_the_backends_own_attributes(make_huey, storage_kind):
    huey = make_huey("all")
    storage = huey.storage
    storage.enqueue(b"x")
    storage.put_data("k", b"v")
    storage.incr("n")
    storage.flush_all()
    assert (storage.queue_size(), storage.result_store_size(), storage.incr("n", 0)) == (0, 0, 0)
    # what both interfaces share is the backend's own attribute, readable and settable
    assert isinstance(storage, type(huey.backend)) and isinstance(huey.backend, type(huey.backend))
    assert storage.name == "all" and storage.blocking == huey.backend.blocking
    if storage_kind == "redis":
        assert storage.conn.ping()


def test_a_hueyd_storage_and_its_view_go_back_in_as_either(make_huey):
    huey = make_huey("swap")
    backend, view = huey.backend, huey.storage
    huey.storage = view
    assert huey.backend is backend
    huey.storage = backend
    assert huey.backend is backend and huey.storage.backend is backend


def test_the_base_class_is_hueys():
    class Half(BaseStorage):
        def has_data_for_key(self, key):
            return False

    half = Half("half")
    assert half.name == "half" and half.blocking is False and half.supports_hash_ttl is False
    with pytest.raises(NotImplementedError):
        half.dequeue()
    with pytest.raises(NotImplementedError):
        half.put_if_empty("k", b"v", ttl=1)
