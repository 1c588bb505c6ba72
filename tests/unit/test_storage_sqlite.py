"""What only SqliteStorage promises: one WAL file shared by names, threads and
processes; claimed messages; busy and unopenable files as StorageError."""
from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from hueyd.storage.base import Message, StorageError, StorageUnusable
from hueyd.storage.sqlite import SqliteStorage
from tests.helpers import wait_for


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "huey.db")


@pytest.fixture
def storage(db_path):
    s = SqliteStorage("app", filename=db_path)
    yield s
    s.close()


def raw(db_path: str, sql: str, *params) -> list:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_file_settings(storage, db_path):
    storage.ping()
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    conn = storage._db.get()
    assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert conn.execute("PRAGMA cache_size").fetchone() == (-8192,)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    tables = {r[0] for r in raw(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"hueyd_queue", "hueyd_schedule", "hueyd_kv", "hueyd_dead_letter",
                      "hueyd_consumer", "hueyd_counter"}


def test_fsync_and_journal_mode_options(tmp_path):
    s = SqliteStorage("o", filename=str(tmp_path / "o.db"), fsync=True, journal_mode="DELETE",
                      cache_mb=2, timeout=1.5)
    conn = s._db.get()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA cache_size").fetchone() == (-2048,)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (1500,)


def test_unknown_journal_mode_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="journal_mode 'fast': expected one of wal"):
        SqliteStorage("x", filename=str(tmp_path / "x.db"), journal_mode="fast")


def test_polled_not_blocking(storage):
    assert storage.blocking is False
    started = time.monotonic()
    assert storage.dequeue(timeout=5) is None
    assert time.monotonic() - started < 0.5


def test_claimed_message_is_invisible_until_ack(storage, db_path):
    storage.enqueue(b"job")
    message = storage.dequeue()
    assert storage.queue_size() == 0 and storage.enqueued_items() == []
    assert storage.dequeue() is None
    assert raw(db_path, "SELECT data, claim IS NOT NULL FROM hueyd_queue") == [(b"job", 1)]
    storage.ack(message)
    assert raw(db_path, "SELECT count(*) FROM hueyd_queue") == [(0,)]


def test_a_stale_receipt_touches_nothing(storage):
    storage.enqueue(b"first")
    stale = storage.dequeue()
    storage.flush_queue()
    storage.enqueue(b"second")
    storage.hand_back(stale)  # its row is gone: nothing comes back
    storage.ack(stale)      # and the row that may now have its id is not deleted
    assert storage.enqueued_items() == [b"second"]


def test_requeue_without_receipt_goes_to_the_head(storage):
    storage.enqueue(b"waiting")
    storage.hand_back(Message(b"interrupted"))
    assert storage.enqueued_items() == [b"interrupted", b"waiting"]


def test_names_share_one_file(db_path):
    a, b = SqliteStorage("a", filename=db_path), SqliteStorage("b", filename=db_path)
    a.enqueue(b"for-a")
    b.enqueue(b"for-b")
    assert a.dequeue().data == b"for-a" and b.dequeue().data == b"for-b"
    a.flush_all()
    b.put_data("k", b"v")
    assert a.peek_data("k") is None and b.peek_data("k") == b"v"


def test_threads_take_each_message_once(storage):
    for i in range(400):
        storage.enqueue(b"%d" % i)
    taken: list[list[bytes]] = [[] for _ in range(4)]

    def work(mine: list[bytes]) -> None:
        while (message := storage.dequeue()) is not None:
            storage.ack(message)
            mine.append(message.data)

    threads = [threading.Thread(target=work, args=(part,)) for part in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    everything = [d for part in taken for d in part]
    assert sorted(everything) == sorted(b"%d" % i for i in range(400))


def open_descriptors(path: str) -> int:
    """How many of this process's file descriptors point at ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == path
        except OSError:
            pass
    return count


def test_a_finished_threads_connection_is_closed(storage, db_path):
    """A web app enqueuing from a thread per request must not leak connections."""
    storage.ping()
    threads = [threading.Thread(target=storage.enqueue, args=(b"%d" % i,)) for i in range(20)]
    for t in threads:
        t.start()
        t.join(10)
    assert storage.queue_size() == 20
    # The main thread's connection, plus at most one descriptor SQLite keeps
    # pending for reuse while another connection of this process holds a lock.
    wait_for(lambda: open_descriptors(db_path) <= 2, 5,
             message="finished threads' connections to close")
    storage.close()
    assert open_descriptors(db_path) == 0


def test_close_from_another_thread_then_reuse(storage):
    storage.enqueue(b"x")
    seen = []
    worker = threading.Thread(target=lambda: seen.append(storage.queue_size()))
    worker.start()
    worker.join(10)
    storage.close()  # closes the worker thread's connection too
    assert seen == [1] and storage.dequeue().data == b"x"


def test_a_locked_file_raises_storage_error_after_the_busy_timeout(db_path):
    s = SqliteStorage("busy", filename=db_path, timeout=0.2)
    s.ping()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match=f"sqlite {db_path}: database is locked"):
            s.enqueue(b"x")
        assert 0.15 < time.monotonic() - started < 3
        assert s.queue_size() == 0  # readers still read under WAL
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    s.enqueue(b"x")
    assert s.queue_size() == 1


def test_unopenable_file_raises_storage_unusable(tmp_path):
    """Not transient: the daemon stops (exit 78) instead of waiting for it."""
    s = SqliteStorage("x", filename=str(tmp_path / "missing-dir" / "huey.db"))
    with pytest.raises(StorageUnusable, match="missing-dir/huey.db: unable to open database "
                       "file: its folder .*/missing-dir does not exist"):
        s.ping()
    with pytest.raises(StorageError, match="missing-dir does not exist yet") as caught:
        s.check()  # hueyd check before systemd made the StateDirectory: a warning
    assert not isinstance(caught.value, StorageUnusable)


def test_not_a_database_raises_storage_unusable(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageUnusable, match="garbage.db: file is not a database"):
        SqliteStorage("x", filename=str(path)).ping()
    with pytest.raises(StorageUnusable, match="garbage.db: file is not a database"):
        SqliteStorage("x", filename=str(path)).check()


def test_check_creates_nothing(tmp_path):
    """hueyd check may run as root: a file it created would be root's, not the daemon's."""
    SqliteStorage("x", filename=str(tmp_path / "new.db")).check()
    assert list(tmp_path.iterdir()) == []
    storage = SqliteStorage("x", filename=str(tmp_path / "made.db"))
    storage.ping()
    storage.close()
    storage.check()  # a database it can write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["made.db"]


def test_dequeue_uses_the_partial_index(storage):
    plan = storage._db.get().execute(
        "EXPLAIN QUERY PLAN SELECT id FROM hueyd_queue WHERE name = ? AND claim IS NULL "
        "ORDER BY priority DESC, id LIMIT 1", ("app",)).fetchall()
    assert any("hueyd_queue_next" in row[-1] for row in plan), plan
