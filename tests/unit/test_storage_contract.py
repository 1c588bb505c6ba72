"""The storage contract (hueyd/storage/base.py), run against every backend:
MemoryStorage, SqliteStorage on a temporary file, and the Redis family on the
suite's redis-server."""
from __future__ import annotations

import threading
import time

import pytest

from hueyd.storage.base import DeadLetter, Message, Storage
from tests.helpers import wait_for

KINDS = ("memory", "sqlite", "redis", "priority-redis", "redis-expire", "postgres")
PRIORITY_KINDS = {"memory", "sqlite", "priority-redis", "postgres"}
REDIS_CLASSES = {"redis": "RedisStorage", "priority-redis": "PriorityRedisStorage",
                 "redis-expire": "RedisExpireStorage"}


def build_storage(kind: str, name: str, tmp_path, request) -> Storage:
    if kind == "memory":
        from hueyd.storage.memory import MemoryStorage
        return MemoryStorage(name)
    if kind == "sqlite":
        from hueyd.storage.sqlite import SqliteStorage
        return SqliteStorage(name, filename=str(tmp_path / "contract.db"))
    if kind == "postgres":
        return postgres_storage(name, tmp_path, request)
    import hueyd.storage.redis as redis_backends
    url = request.getfixturevalue("redis_url")
    return getattr(redis_backends, REDIS_CLASSES[kind])(name, url=url)


def postgres_storage(name: str, tmp_path, request, **kwargs) -> Storage:
    """A PostgresStorage on the suite's server, in tables of this test's own."""
    import hashlib

    from hueyd.storage.postgres import PostgresStorage
    server = request.getfixturevalue("postgres_server")
    prefix = "t" + hashlib.md5(str(tmp_path).encode()).hexdigest()[:12]
    return PostgresStorage(name, dsn=server.dsn, table_prefix=prefix, **kwargs)


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def make_storage(kind, tmp_path, request):
    made: list[Storage] = []

    def factory(name: str = "contract") -> Storage:
        storage = build_storage(kind, name, tmp_path, request)
        made.append(storage)
        return storage

    yield factory
    for storage in made:
        storage.close()


@pytest.fixture
def storage(make_storage):
    return make_storage()


def drain(storage: Storage) -> list[bytes]:
    taken = []
    while (message := storage.dequeue()) is not None:
        storage.ack(message)
        taken.append(message.data)
    return taken


# -- queue -----------------------------------------------------------------------------

def test_fifo_order(storage):
    for i in range(5):
        storage.enqueue(b"m%d" % i)
    assert storage.queue_size() == 5
    assert storage.enqueued_items() == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert storage.enqueued_items(2) == [b"m0", b"m1"]
    assert drain(storage) == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert storage.dequeue() is None and storage.queue_size() == 0


def test_priority_order_fifo_within_a_priority(storage, kind):
    if kind not in PRIORITY_KINDS:
        pytest.skip(f"{kind} is FIFO only")
    for data, priority in ((b"low-1", 1), (b"none-1", None), (b"high-1", 10), (b"mid", 5),
                           (b"high-2", 10), (b"none-2", 0), (b"half", 1.5), (b"neg", -3)):
        storage.enqueue(data, priority)
    expected = [b"high-1", b"high-2", b"mid", b"half", b"low-1", b"none-1", b"none-2", b"neg"]
    assert storage.enqueued_items() == expected
    assert drain(storage) == expected


def test_identical_messages_are_both_kept(storage):
    storage.enqueue(b"same")
    storage.enqueue(b"same")
    assert drain(storage) == [b"same", b"same"]


def test_requeue_puts_the_message_next(storage, kind):
    for data in (b"a", b"b", b"c"):
        storage.enqueue(data)
    first = storage.dequeue()
    assert first == Message(b"a")
    storage.hand_back(first)
    assert storage.enqueued_items() == [b"a", b"b", b"c"]
    assert drain(storage) == [b"a", b"b", b"c"]


def test_requeue_keeps_priority(storage, kind):
    if kind not in PRIORITY_KINDS:
        pytest.skip(f"{kind} is FIFO only")
    storage.enqueue(b"urgent", 9)
    storage.enqueue(b"normal")
    taken = storage.dequeue()
    storage.enqueue(b"urgent-2", 9)
    storage.hand_back(taken)
    assert drain(storage) == [b"urgent", b"urgent-2", b"normal"]


def test_ack_forgets_the_message(storage):
    storage.enqueue(b"once")
    message = storage.dequeue()
    assert message.data == b"once" and storage.queue_size() == 0
    storage.ack(message)
    assert storage.dequeue() is None and storage.enqueued_items() == []


def test_flush_queue(storage):
    for i in range(3):
        storage.enqueue(b"x%d" % i, 1)
    storage.flush_queue()
    assert storage.queue_size() == 0 and storage.dequeue() is None


def test_empty_dequeue_without_timeout_returns_none_at_once(storage):
    started = time.monotonic()
    assert storage.dequeue() is None
    assert storage.dequeue(0) is None
    assert time.monotonic() - started < 0.5


def test_dequeue_timeout_waits_only_when_blocking(storage):
    started = time.monotonic()
    assert storage.dequeue(timeout=0.4) is None
    elapsed = time.monotonic() - started
    if storage.blocking:
        assert 0.3 <= elapsed < 2.0, elapsed
    else:
        assert elapsed < 0.3, f"a polled backend must not wait ({elapsed:.2f}s)"


def test_blocking_dequeue_wakes_when_another_thread_enqueues(storage, kind, request):
    if not storage.blocking:
        pytest.skip(f"{kind} is polled, it does not block")
    got: list[tuple[Message | None, float]] = []
    calling = threading.Event()

    def consumer():
        calling.set()
        message = storage.dequeue(timeout=8)
        got.append((message, time.monotonic()))

    thread = threading.Thread(target=consumer, daemon=True)
    thread.start()
    calling.wait(5)
    if kind in REDIS_CLASSES:  # prove the consumer is parked on the server first
        import redis
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        wait_for(lambda: client.info("clients")["blocked_clients"] >= 1, 5,
                 message="the dequeue to block on redis")
        client.close()
    enqueued_at = time.monotonic()
    storage.enqueue(b"wake")
    thread.join(5)
    assert got, "dequeue did not return"
    message, returned_at = got[0]
    assert message is not None and message.data == b"wake"
    assert returned_at - enqueued_at < 1.0


# -- schedule ----------------------------------------------------------------------------

def test_schedule_read_move_and_next_time(storage, kind):
    base = 1_700_000_000.25
    for data, offset in ((b"p1", 1), (b"p0", 0), (b"n1", -1), (b"p2", 2), (b"p3", 30)):
        storage.add_to_schedule(data, base + offset, 7 if data == b"p2" else None)
    assert storage.schedule_size() == 5
    assert storage.scheduled_items() == [b"n1", b"p0", b"p1", b"p2", b"p3"]
    assert storage.scheduled_items(2) == [b"n1", b"p0"]
    assert storage.next_scheduled_time() == pytest.approx(base - 1)

    assert storage.read_schedule(base) == [b"n1", b"p0"]
    assert storage.read_schedule(base) == []
    assert storage.next_scheduled_time() == pytest.approx(base + 1)

    storage.enqueue(b"already")
    assert storage.move_due(base + 2) == 2
    assert storage.move_due(base + 2) == 0
    expected = ([b"p2", b"already", b"p1"] if kind in PRIORITY_KINDS
                else [b"already", b"p1", b"p2"])
    assert storage.enqueued_items() == expected
    assert storage.scheduled_items() == [b"p3"]
    assert storage.next_scheduled_time() == pytest.approx(base + 30)
    storage.flush_schedule()
    assert storage.schedule_size() == 0 and storage.next_scheduled_time() is None


# -- key/value ---------------------------------------------------------------------------

def test_put_peek_pop_delete(storage):
    assert storage.peek_data("k") is None and not storage.has_data_for_key("k")
    storage.put_data("k", b"v1")
    storage.put_data("k", b"v2")
    assert storage.peek_data("k") == b"v2" and storage.has_data_for_key("k")
    assert storage.pop_data("k") == b"v2"
    assert storage.pop_data("k") is None
    storage.put_data("gone", b"x")
    assert storage.delete_data("gone") is True
    assert storage.delete_data("gone") is False


def test_peek_many_keeps_order_and_gaps(storage):
    storage.put_data("a", b"1")
    storage.put_data("c", b"3")
    storage.put_if_empty("lock", b"L", ttl=30)
    assert storage.peek_many(["c", "missing", "a", "lock"]) == [b"3", None, b"1", b"L"]
    assert storage.peek_many([]) == []
    many = [f"k{i}" for i in range(1200)]
    assert storage.peek_many(many + ["a"]) == [None] * 1200 + [b"1"]


def test_put_if_empty(storage):
    assert storage.put_if_empty("lock", b"1") is True
    assert storage.put_if_empty("lock", b"2") is False
    assert storage.peek_data("lock") == b"1"
    assert storage.delete_data("lock") is True
    assert storage.put_if_empty("lock", b"3") is True


def test_put_if_empty_ttl_expires(storage):
    assert storage.put_if_empty("lock", b"1", ttl=0.3) is True
    assert storage.put_if_empty("lock", b"2", ttl=0.3) is False
    assert storage.peek_data("lock") == b"1"
    wait_for(lambda: not storage.has_data_for_key("lock"), 3, message="the lock's TTL")
    assert storage.peek_many(["lock"]) == [None]
    assert storage.put_if_empty("lock", b"3") is True
    assert storage.put_if_empty("lock", b"4") is False
    assert storage.peek_data("lock") == b"3"


def test_results(storage):
    storage.put_data("r1", b"one", is_result=True)
    storage.put_data("r2", b"two", is_result=True)
    assert storage.result_items() == {"r1": b"one", "r2": b"two"}
    assert storage.result_store_size() == 2
    storage.flush_results()
    assert storage.result_items() == {} and storage.result_store_size() == 0


# -- dead letters ------------------------------------------------------------------------

def test_dead_letters(storage):
    storage.add_dead_letter(b"garbage", "not a message", 1000.5)
    storage.add_dead_letter(b"unsigned", "bad signature", 1001.0)
    letters = storage.dead_letters()
    assert [(d.data, d.reason, d.timestamp) for d in letters] == [
        (b"garbage", "not a message", 1000.5), (b"unsigned", "bad signature", 1001.0)]
    assert all(isinstance(d, DeadLetter) and d.id for d in letters)
    assert len({d.id for d in letters}) == 2
    assert storage.dead_letters(1) == letters[:1]
    assert storage.dead_letter_count() == 2

    storage.enqueue(b"live")
    assert storage.requeue_dead_letters() == 2
    assert storage.dead_letter_count() == 0 and storage.dead_letters() == []
    assert drain(storage) == [b"live", b"garbage", b"unsigned"]

    storage.add_dead_letter(b"x", "why", 1.0)
    assert storage.purge_dead_letters() == 1
    assert storage.purge_dead_letters() == 0


# -- everything ----------------------------------------------------------------------------

def test_flush_all(storage):
    storage.enqueue(b"q")
    storage.add_to_schedule(b"s", time.time() + 60)
    storage.put_data("k", b"v")
    storage.put_if_empty("lock", b"1", ttl=60)
    storage.add_dead_letter(b"d", "r", 1.0)
    storage.flush_all()
    assert (storage.queue_size(), storage.schedule_size(), storage.result_store_size(),
            storage.dead_letter_count()) == (0, 0, 0, 0)
    assert storage.peek_data("lock") is None


def test_names_do_not_share_data(make_storage, kind):
    if kind == "memory":
        pytest.skip("each MemoryStorage is its own world")
    first, second = make_storage("first"), make_storage("second")
    first.enqueue(b"for-first")
    first.add_to_schedule(b"later", 10.0)
    first.put_data("k", b"first")
    first.add_dead_letter(b"d", "r", 1.0)
    assert second.dequeue() is None and second.move_due(20.0) == 0
    assert second.peek_data("k") is None and second.dead_letter_count() == 0
    assert first.dequeue().data == b"for-first"


def test_ping_and_close_then_reuse(storage):
    storage.ping()
    storage.enqueue(b"kept")
    storage.close()
    storage.ping()
    assert storage.dequeue().data == b"kept"
