"""At-least-once delivery in the storage layer: in-flight messages, consumer leases,
recovery of what dead consumers held, poison messages, release on stop.

Two storages on one backend play two consumers (``a`` dies, ``b`` survives), as
two daemons on one Redis or one SQLite file would. Real processes where a
process must really be gone.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time

import pytest
import redis

from hueyd.storage import leases
from hueyd.storage.base import Message, StorageError
from hueyd.storage.memory import MemoryStorage
from hueyd.storage.redis import PriorityRedisStorage, RedisStorage
from hueyd.storage.sqlite import SqliteStorage
from tests.helpers import wait_for
from tests.unit.test_storage_contract import postgres_storage

FORK = multiprocessing.get_context("fork")
KINDS = ("redis", "priority-redis", "sqlite", "postgres")


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def make(kind, tmp_path, request):
    """``make(consumer_id=None, **kwargs)``: a storage of ``kind`` named 'lease'."""
    made = []

    def factory(consumer_id: str | None = None, **kwargs):
        if kind == "sqlite":
            s = SqliteStorage("lease", filename=str(tmp_path / "lease.db"), **kwargs)
        elif kind == "postgres":
            s = postgres_storage("lease", tmp_path, request, **kwargs)
        else:
            cls = PriorityRedisStorage if kind == "priority-redis" else RedisStorage
            s = cls("lease", url=request.getfixturevalue("redis_url"), **kwargs)
        if consumer_id is not None:
            s.start_consuming(consumer_id)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()


def in_flight(storage) -> dict[str, int]:
    return {c.id: c.in_flight for c in storage.consumers()}


def drain(storage) -> list[bytes]:
    taken = []
    while (message := storage.dequeue()) is not None:
        storage.ack(message)
        taken.append(message.data)
    return taken


def test_a_dequeued_message_is_held_in_flight_until_acked(make):
    a = make("host-a:1:aa")
    a.enqueue(b"job")
    message = a.dequeue()
    assert message.data == b"job" and a.queue_size() == 0
    assert in_flight(a) == {"host-a:1:aa": 1}
    a.ack(message)
    assert in_flight(a) == {"host-a:1:aa": 0}
    a.ack(message)  # twice is harmless
    assert a.dequeue() is None and a.queue_size() == 0


def test_the_first_dequeue_takes_a_lease_without_a_consumer(make):
    """A plain ``huey.dequeue()`` (no daemon) holds its message under a lease too."""
    s = make()
    s.enqueue(b"x")
    s.dequeue()
    (lease,) = s.consumers()
    assert lease.id == s.consumer_id and lease.id.split(":")[1] == str(os.getpid())
    assert lease.card.pid == os.getpid() and lease.alive and lease.in_flight == 1
    assert lease.expires > time.time() + 20


def test_an_expired_lease_hands_its_messages_back_in_order(make):
    a, b = make("a", lease_timeout=0.3), make("b")
    for data in (b"m1", b"m2", b"m3", b"m4"):
        a.enqueue(data)
    held = [a.dequeue() for _ in range(3)]
    assert [m.data for m in held] == [b"m1", b"m2", b"m3"]
    b.keep_alive()  # a's lease still runs: nothing moves
    assert b.queue_size() == 1 and in_flight(b)["a"] == 3
    wait_for(lambda: not {c.id: c.alive for c in b.consumers()}["a"], 3,
             message="a's lease to run out")
    assert b.recover() == (3, 0)
    assert b.enqueued_items() == [b"m1", b"m2", b"m3", b"m4"]
    assert "a" not in in_flight(b)
    # a was not dead after all: its ack and its requeue change nothing now
    a.ack(held[0])
    a.hand_back(held[1])
    assert drain(b) == [b"m1", b"m2", b"m3", b"m4"]


def test_keep_alive_renews_the_lease(make):
    a, b = make("a", lease_timeout=0.5), make("b")
    a.enqueue(b"long task")
    message = a.dequeue()
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # three lease periods, renewed all along
        a.keep_alive()
        assert b.recover() == (0, 0)
        time.sleep(0.1)
    a.ack(message)
    assert b.queue_size() == 0 and in_flight(b)["a"] == 0


def test_a_message_that_keeps_killing_its_consumer_is_set_aside(make):
    b = make("survivor", max_deliveries=3)
    b.enqueue(b"poison")
    b.enqueue(b"fine")
    for n in range(3):
        victim = make(f"victim-{n}", lease_timeout=0.05, max_deliveries=3)
        assert victim.dequeue().data == b"poison"
        time.sleep(0.1)
        assert b.recover() == ((1, 0) if n < 2 else (0, 1))
    (letter,) = b.dead_letters()
    assert letter.data == b"poison" and letter.reason == "killed its consumer 3 times"
    assert time.time() - 10 < letter.timestamp <= time.time() + 1
    assert drain(b) == [b"fine"]


def test_an_ack_forgets_the_deaths_counted_so_far(make, kind, request):
    b = make("b", max_deliveries=2)
    b.enqueue(b"unlucky once")
    first = make("first", lease_timeout=0.05)
    first.dequeue()
    time.sleep(0.1)
    assert b.recover() == (1, 0)
    b.ack(b.dequeue())
    if kind != "sqlite":
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        assert client.exists("hueyd:{lease}:deliveries") == 0
        client.close()
    b.enqueue(b"unlucky once")  # the same bytes again: a fresh count
    second = make("second", lease_timeout=0.05)
    second.dequeue()
    time.sleep(0.1)
    assert b.recover() == (1, 0) and b.dead_letter_count() == 0


def test_release_hands_everything_back_at_once(make):
    a = make("a")
    for data in (b"m1", b"m2", b"m3"):
        a.enqueue(data, 2 if data == b"m3" else None)
    held = [a.dequeue() for _ in range(2)]
    assert a.stop_consuming() == 2
    assert a.consumers() == []
    a.ack(held[0])  # too late: it is someone else's now
    assert sorted(drain(a)) == [b"m1", b"m2", b"m3"]
    assert a.stop_consuming() == 0


def test_a_requeued_message_is_not_counted_as_a_death(make):
    a, b = make("a", lease_timeout=0.05, max_deliveries=1), make("b", max_deliveries=1)
    a.enqueue(b"interrupted")
    a.hand_back(a.dequeue())
    assert a.enqueued_items() == [b"interrupted"]
    time.sleep(0.1)
    assert b.recover() == (0, 0) and b.dead_letter_count() == 0


def test_keep_alive_waits_a_lease_period_after_an_outage(make, monkeypatch):
    """Back from an outage, every lease may have lapsed: a consumer gives the others
    time to renew before it takes anything back."""
    monkeypatch.setattr(leases, "RECOVER_EVERY", 0)  # b looks at every keep_alive
    a, b = make("a", lease_timeout=0.4), make("b", lease_timeout=0.4)
    a.enqueue(b"held by a live consumer")
    a.dequeue()
    b.keep_alive()
    real = b.leases._write_lease

    def unreachable():
        raise StorageError("redis at nowhere: Connection refused")

    monkeypatch.setattr(b.leases, "_write_lease", unreachable)
    with pytest.raises(StorageError):
        b.keep_alive()
    monkeypatch.setattr(b.leases, "_write_lease", real)
    time.sleep(0.5)  # a's lease lapsed "during the outage"
    b.keep_alive()  # back: renews, but does not recover yet
    a.keep_alive()
    assert in_flight(b)["a"] == 1 and b.queue_size() == 0


def _dequeue_then_wait(target, kind: str, conn) -> None:
    """In a child: take one message under a consumer lease of 60 s, report, hang."""
    if callable(target):  # postgres: the test's factory, inherited by fork
        s = target()
    elif kind == "sqlite":
        s = SqliteStorage("lease", filename=target)
    else:
        cls = PriorityRedisStorage if kind == "priority-redis" else RedisStorage
        s = cls("lease", url=target)
    s.start_consuming()
    s.keep_alive()
    conn.send((s.consumer_id, s.dequeue().data))
    time.sleep(60)


def test_a_consumer_whose_process_is_gone_need_not_wait_for_its_lease(
        make, kind, tmp_path, request, monkeypatch):
    monkeypatch.setattr(leases, "RENEWAL_GRACE", 0.2)
    target = (str(tmp_path / "lease.db") if kind == "sqlite"
              else make if kind == "postgres" else request.getfixturevalue("redis_url"))
    b = make("b")
    b.enqueue(b"held by a killed process")
    ours, theirs = FORK.Pipe()
    child = FORK.Process(target=_dequeue_then_wait, args=(target, kind, theirs), daemon=True)
    child.start()
    try:
        assert ours.poll(10), "the child did not dequeue"
        cid, data = ours.recv()
        assert data == b"held by a killed process"
        time.sleep(0.3)
        assert b.recover() == (0, 0)  # alive, lease valid: untouched
        assert {c.id: c.alive for c in b.consumers()}[cid]
        os.kill(child.pid, signal.SIGKILL)
        child.join(5)
        assert not {c.id: c.alive for c in b.consumers()}[cid]  # status sees it at once
        assert b.recover() == (1, 0)  # 60 s lease, but its process is gone
        assert cid not in in_flight(b) and b.enqueued_items() == [data]
    finally:
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
            child.join(5)


def test_another_machines_consumer_is_judged_by_its_lease_only(monkeypatch):
    card = leases.ConsumerCard("elsewhere", 999_999_999, 0.0, machine="other/boot/1")
    assert not leases.process_gone(card)
    now = time.time()
    assert not leases.reclaimable(card, now + 10, now)
    assert leases.reclaimable(card, now - 1, now)
    here = leases.ConsumerCard.here(30)
    assert not leases.process_gone(here)  # this very process
    gone = leases.ConsumerCard(here.host, 999_999_999, 0.0, here.machine, "1", 30)
    assert leases.process_gone(gone)
    assert not leases.reclaimable(gone, now + 29.5, now)  # renewed 0.5 s ago: grace
    assert leases.reclaimable(gone, now + 20, now)


def _take_and_report(storage, conn) -> None:
    message = storage.dequeue()
    conn.send(message)
    os._exit(0)


def test_forked_workers_share_the_consumers_lease(make):
    """A process worker dequeues; the master acks (a lost worker's task is failed
    and acked there): one consumer, one in-flight list."""
    a = make()
    cid = a.start_consuming()
    a.enqueue(b"from a worker")
    a.close()  # as the consumer does before forking
    ours, theirs = FORK.Pipe()
    child = FORK.Process(target=_take_and_report, args=(a, theirs))
    child.start()
    assert ours.poll(10)
    message = ours.recv()
    child.join(5)
    assert message.data == b"from a worker" and in_flight(a) == {cid: 1}
    a.ack(message)
    assert in_flight(a) == {cid: 0}


def test_flush_queue_forgets_in_flight_messages_too(make):
    a = make("a")
    a.enqueue(b"x")
    message = a.dequeue()
    a.flush_queue()
    a.hand_back(message)  # its message is gone: nothing comes back
    assert a.queue_size() == 0 and in_flight(a) == {"a": 0}


def test_settings_are_checked(make):
    with pytest.raises(ValueError, match="lease_timeout"):
        make(lease_timeout=0)
    with pytest.raises(ValueError, match="max_deliveries"):
        make(max_deliveries=0)


def test_memory_storage_release_puts_unacked_messages_back():
    s = MemoryStorage("mem")
    for data in (b"a", b"b", b"c"):
        s.enqueue(data)
    first, _second = s.dequeue(), s.dequeue()
    s.ack(first)
    assert s.stop_consuming() == 1 and s.consumers() == []
    assert [s.dequeue().data for _ in range(2)] == [b"b", b"c"]
    assert s.keep_alive() is None and s.start_consuming("x") == "x"


def test_an_sqlite_file_of_the_first_schema_is_upgraded(tmp_path):
    path = tmp_path / "v1.db"
    raw = sqlite3.connect(path)
    raw.executescript("""
        CREATE TABLE hueyd_queue (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
            data BLOB NOT NULL, priority NUMERIC NOT NULL DEFAULT 0, claim INTEGER,
            claimed_at REAL);
        INSERT INTO hueyd_queue (name, data, claim, claimed_at) VALUES ('old', X'68656c64', 7, 1.0);
        INSERT INTO hueyd_queue (name, data) VALUES ('old', CAST('waiting' AS BLOB));
        PRAGMA user_version = 1;
    """)
    raw.close()
    s = SqliteStorage("old", filename=str(path))
    assert s.queue_size() == 1
    s.start_consuming("new")
    # a claim from before leases has no consumer: nobody renews it, it comes back
    assert s.recover() == (1, 0)
    assert drain(s) == [b"held", b"waiting"]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (2,)
    s.close()


def test_a_receipt_survives_pickling_for_the_heartbeat_slot(make):
    """Process workers copy the running message into shared memory for the master."""
    import pickle
    a = make("a")
    a.enqueue(b"copied", 3)
    message = pickle.loads(pickle.dumps(a.dequeue()))
    a.hand_back(message)
    assert a.enqueued_items() == [b"copied"] and in_flight(a) == {"a": 0}
    assert isinstance(message, Message)


@pytest.mark.parametrize("with_memory", [False, True])
def test_dead_letters_are_requeued_and_purged_oldest_first(make, with_memory):
    s = MemoryStorage("mem") if with_memory else make("ops")
    for n in range(5):
        s.add_dead_letter(b"d%d" % n, f"reason {n}", 1000.0 + n)
    assert s.requeue_dead_letters(limit=2) == 2
    assert [d.data for d in s.dead_letters()] == [b"d2", b"d3", b"d4"]
    assert s.purge_dead_letters(limit=1) == 1
    assert [d.reason for d in s.dead_letters()] == ["reason 3", "reason 4"]
    assert s.purge_dead_letters(limit=10) == 2 and s.dead_letter_count() == 0
    assert drain(s) == [b"d0", b"d1"]


def test_finish_and_dequeue_acknowledges_forgets_and_takes_the_next(make, kind, request):
    s = make("c", max_deliveries=5)
    for data in (b"m1", b"m2"):
        s.enqueue(data)
    s.put_data("r:spent", b"revoked")
    first = s.dequeue()
    second = s.finish_and_dequeue(first, ["r:spent"], timeout=0.5)
    assert second.data == b"m2" and s.peek_data("r:spent") is None
    assert in_flight(s) == {"c": 1}
    assert s.finish_and_dequeue(second, [], timeout=0.1) is None
    assert in_flight(s) == {"c": 0} and s.queue_size() == 0
    s.finish(Message(b"never dequeued"), ["r:none"])  # no receipt: only the keys go
