"""Issue 20, the producer side, counted on the suite's redis-server: a ``task()`` call is
one LPUSH in one write, packed by hand on a connection the storage keeps; the message
means what the old path wrote and a worker runs it; the kept connection is replaced
when the server closed it, when a Sentinel failover moved the master, and in a forked
child; threads share it (a thread per request never adds a connection for good); a
bulk enqueue writes a batch while preparing the next, and a batch the server refuses
stops the call with nothing after it written. Speed itself is measured in bench/.
"""
from __future__ import annotations

import gc
import os
import pickle
import threading
import time
import uuid

import pytest
import redis

import hueyd
from hueyd import EnqueueManyError
from hueyd.api import bulk
from hueyd.api.task import instances, new_id
from hueyd.signals import SIGNAL_ENQUEUED
from hueyd.storage.base import StorageError
from hueyd.storage.redis import RedisStorage
from tests.helpers import wait_for
from tests.redis_ha import SERVICE, SentinelGroup
from tests.unit.test_worker_round_trips import command_counts, drain, reads_processed


def app(url: str, name: str, **kwargs) -> tuple[hueyd.RedisHuey, object]:
    huey = hueyd.RedisHuey(name, url=url, read_timeout=0.1, **kwargs)

    @huey.task()
    def echo(*args, **kw):
        return [args, kw]

    return huey, echo


def test_one_task_call_is_one_lpush_in_one_write(redis_url, monkeypatch):
    """... on the kept connection: no pool checkout (its lock and its three-syscall
    probe) and no redis-py command path per call."""
    huey, echo = app(redis_url, "writes")
    client = redis.Redis.from_url(redis_url)
    echo(0)  # the kept connection is open
    checkouts: list[str] = []
    checkout = redis.ConnectionPool.get_connection
    monkeypatch.setattr(redis.ConnectionPool, "get_connection",
                        lambda pool, *a, **k: (pool is huey.storage.pool and checkouts.append(1))
                        or checkout(pool, *a, **k))
    client.config_resetstat()
    before = reads_processed(client)
    for n in range(50):
        echo(n)
    reads = reads_processed(client) - before - 1  # the INFO that reads the count
    commands = command_counts(client)
    assert commands.pop("lpush") == 50 and reads == 50
    assert set(commands) <= {"info", "config|resetstat", "config"}  # the test's own
    assert checkouts == []


@pytest.mark.parametrize("signed", [False, True])
def test_a_hand_packed_message_means_what_the_envelope_says_and_runs(redis_url, signed):
    huey, echo = app(redis_url, f"meaning-{signed}",
                     **({"secret_key": "k" * 32} if signed else {}))
    huey.storage.start_consuming()
    args, kwargs = (1, "zwölf", b"\x00\r\n*3\r\n", None), {"key": [1.5, {"x": ()}]}
    result = echo(*args, **kwargs)
    raw = huey.storage.conn.lrange(huey.storage.keys.queue, 0, -1)
    assert len(raw) == 1
    task = huey.deserialize_task(raw[0])
    assert (task.id, task.args, task.kwargs) == (result.id, args, kwargs)
    if not signed:
        envelope = pickle.loads(raw[0])
        expected = huey._codec.registry.to_envelope(task, True)
        envelope.pop("enqueued"), expected.pop("enqueued")
        assert envelope == expected
    drain(huey, 1)
    assert result.get() == [args, kwargs]


def test_a_connection_the_server_closed_is_replaced_not_written_to(redis_url):
    """The kept connection is asked (one poll) before each write: one the server
    dropped between two calls (CLIENT KILL, its idle timeout, a restart) is replaced,
    so the call succeeds where redis-py's pool would also have reconnected."""
    huey, echo = app(redis_url, "killed")
    client = redis.Redis.from_url(redis_url)
    echo(1)
    name = f"producer-{os.getpid()}"
    huey.storage.queue._pusher.conn.send_command("CLIENT", "SETNAME", name)
    huey.storage.queue._pusher.conn.read_response()
    assert client.client_kill_filter(_type="normal", skipme=True) >= 1
    wait_for(lambda: not any(c["name"] == name for c in client.client_list()), 5)
    echo(2)
    assert huey.pending_count() == 2


def test_threads_share_the_kept_connection_and_borrow_when_it_is_busy(redis_url):
    """A thread per request (a web server) must not leave a socket per thread behind."""
    huey, echo = app(redis_url, "threads")
    client = redis.Redis.from_url(redis_url)
    echo(0)
    connected = client.info("clients")["connected_clients"]
    for _round in range(3):
        threads = [threading.Thread(target=lambda: [echo(n) for n in range(20)])
                   for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert huey.pending_count() == 1 + 3 * 30 * 20
    pooled = len(huey.storage.pool._available_connections)
    # the kept one, plus what the pool lent while it was busy: never one per thread
    assert client.info("clients")["connected_clients"] <= connected + pooled
    assert pooled < 30


def test_a_forked_child_enqueues_on_a_connection_of_its_own(redis_url):
    huey, echo = app(redis_url, "forked")
    echo("parent")
    kept = huey.storage.queue._pusher.conn
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            echo("child")
            ok = huey.storage.queue._pusher.conn is not kept
            os.write(writer, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    assert os.read(reader, 1) == b"1"
    os.waitpid(pid, 0)
    echo("parent again")
    assert huey.storage.queue._pusher.conn is kept
    assert sorted(t.args[0] for t in huey.pending()) == ["child", "parent", "parent again"]


def test_ids_are_uuid4_strings_unique_and_never_shared_with_a_child():
    ids = [new_id() for _ in range(3000)]
    assert len(set(ids)) == 3000
    for text in ids[:300]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    new_id()  # ids made ahead are waiting
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(writer, new_id().encode())
        os._exit(0)
    os.close(writer)
    child = os.read(reader, 64).decode()
    os.waitpid(pid, 0)
    assert child not in {new_id() for _ in range(2000)}


def test_a_task_class_may_make_its_own_ids(redis_url):
    """huey's Task calls create_id() for a task without an id: a task_base may override it."""
    huey = hueyd.RedisHuey("ids", url=redis_url)

    class Numbered(hueyd.api.task.Task):
        def create_id(self) -> str:
            return "job-1"

    @huey.task(task_base=Numbered)
    def job():
        pass

    assert job().id == "job-1"


def test_a_bulk_batch_is_written_while_the_next_is_prepared(redis_url, monkeypatch):
    """The second batch's LPUSH leaves before the first's reply is read: the first
    reply is read only once the next batch is serialized."""
    huey, echo = app(redis_url, "overlap")
    order: list[str] = []
    send = RedisStorage.send_many

    def traced(storage, messages):
        order.append(f"send {len(messages)}")
        confirm = send(storage, messages)

        def confirmed():
            order.append("confirm")
            confirm()
        return confirmed

    monkeypatch.setattr(RedisStorage, "send_many", traced)
    group = echo.map(range(bulk.BATCH * 2 + 1))
    assert order == [f"send {bulk.BATCH}", "confirm", f"send {bulk.BATCH}", "confirm",
                     "send 1", "confirm"]
    assert len(group) == huey.pending_count() == bulk.BATCH * 2 + 1


def test_a_refused_batch_stops_the_call_with_nothing_after_it_written(redis_url):
    """The server refuses the second batch (its key turned into a string meanwhile):
    the error names that batch's first task, the first batch is in, no third was sent."""
    huey, echo = app(redis_url, "refused")
    client = redis.Redis.from_url(redis_url)
    queue = huey.storage.keys.queue
    client.config_resetstat()

    def spoil(signal, task):
        if task.args == (bulk.BATCH,):  # signalled just before its batch is written
            client.rename(queue, "refused-first-batch")
            client.set(queue, "not a list")

    huey.signal(SIGNAL_ENQUEUED)(spoil)
    with pytest.raises(EnqueueManyError) as caught:
        echo.map(range(bulk.BATCH * 3))
    error = caught.value
    assert isinstance(error.__cause__, StorageError) and "WRONGTYPE" in str(error)
    assert error.enqueued == bulk.BATCH and error.task.args == (bulk.BATCH,)
    assert len(error.results) == bulk.BATCH
    assert client.llen("refused-first-batch") == bulk.BATCH
    assert command_counts(client)["lpush"] == 2
    client.delete(queue, "refused-first-batch")


def test_enqueues_follow_a_sentinel_failover():
    """SENTINEL FAILOVER promotes the replica while the old master stays a master for
    seconds: the producer's kept connection leaves it for the new one (the pool is
    asked whom it follows at most once a second), as redis-py's pool did."""
    group = SentinelGroup()
    huey, echo = app(group.url, "follow")
    try:
        echo("before")
        with group.sentinels[0].client() as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
        wait_for(group.promoted, 20, message="the replica promoted")
        new_master = redis.Redis(port=group.replica.port)

        def landed() -> bool:
            try:
                echo("after")
            except StorageError:
                return False
            return new_master.llen(huey.storage.keys.queue) >= 2 and bool(
                [m for m in new_master.lrange(huey.storage.keys.queue, 0, -1)
                 if huey.deserialize_task(m).args == ("after",)])
        started = time.monotonic()
        wait_for(landed, 10, interval=0.2, message="an enqueue on the new master")
        assert time.monotonic() - started < 5
        new_master.close()
    finally:
        huey.storage.close()
        group.cleanup()


def test_mapped_tasks_share_no_mutable_field_and_equal_ordinary_ones(redis_url):
    """map() copies one task per call: every list, dict or set must be each task's own,
    and a copy must hold what ``cls(args)`` holds but for its id and arguments."""
    huey, echo = app(redis_url, "copies")
    first, second = list(instances(echo.task_class, [1, (2, 3)]))
    assert (first.args, second.args) == ((1,), (2, 3)) and first.id != second.id
    assert first.revoke_id == f"r:{first.id}"
    for name, value in vars(first).items():
        if isinstance(value, (list, dict, set, bytearray)):
            assert value is not vars(second)[name], name
    ordinary = vars(echo.task_class((1,)))
    assert {k: v for k, v in vars(first).items() if k not in ("id", "revoke_id")} == \
        {k: v for k, v in ordinary.items() if k not in ("id", "revoke_id")}

    class Counted(hueyd.api.task.Task):
        made = 0

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            Counted.made += 1

    @huey.task(task_base=Counted)
    def counted(x):
        return x

    counted.map(range(3))  # a constructor of its own runs for every task
    assert Counted.made == 3


def test_a_bulk_call_pauses_the_cyclic_collector_and_restores_it(redis_url, monkeypatch):
    """Off during the call (its objects live until it returns), back as it was after,
    also when the call fails; an app that turned it off keeps it off."""
    huey, echo = app(redis_url, "collector")
    seen: list[bool] = []
    huey.signal(SIGNAL_ENQUEUED)(lambda signal, task: seen.append(gc.isenabled()))
    assert gc.isenabled()
    echo.map(range(3))
    assert seen == [False] * 3 and gc.isenabled()
    with pytest.raises(EnqueueManyError):
        huey.enqueue_many([echo.s(1), echo.s(threading.Lock())])
    assert gc.isenabled()
    gc.disable()
    try:
        echo.map(range(2))
        assert not gc.isenabled()
    finally:
        gc.enable()
