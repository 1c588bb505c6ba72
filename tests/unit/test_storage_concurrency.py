"""Atomicity under concurrency, with separate connections: two schedulers moving
the same due entries (threads and processes), four processes draining one
SQLite queue, and storages that were used before a fork working in the child."""
from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time

import pytest

import hueyd.storage.redis as redis_backends
import hueyd.storage.redis.storage as redis_storage
from hueyd.storage.base import Storage
from hueyd.storage.sqlite import SqliteStorage

FORK = multiprocessing.get_context("fork")
DUE_ENTRIES = 1000


def make(kind: str, target: str) -> Storage:
    """A fresh storage (own connections); ``target`` is a Redis URL or a SQLite path."""
    if kind == "sqlite":
        return SqliteStorage("conc", filename=target)
    return redis_backends.PriorityRedisStorage("conc", url=target) if kind == "priority-redis" \
        else redis_backends.RedisStorage("conc", url=target)


@pytest.fixture(params=["redis", "priority-redis", "sqlite"])
def backend(request, tmp_path):
    """(kind, target) for a storage that several processes can open."""
    if request.param == "sqlite":
        return request.param, str(tmp_path / "conc.db")
    return request.param, request.getfixturevalue("redis_url")


def run_processes(target, args_list, timeout: float = 60) -> list:
    """Run ``target(results, *args)`` in forked processes; return what each put in ``results``.

    Children are killed by PID if they outlive ``timeout``; one that fails fails the test.
    """
    results = FORK.Queue()
    procs = [FORK.Process(target=target, args=(results, *args), daemon=True) for args in args_list]
    for proc in procs:
        proc.start()
    collected = []
    try:
        deadline = time.monotonic() + timeout
        for _ in procs:
            collected.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
        for proc in procs:
            proc.join(max(0.1, deadline - time.monotonic()))
    except queue.Empty:
        pytest.fail(f"worker processes did not finish within {timeout}s")
    finally:
        for proc in procs:
            if proc.is_alive():
                os.kill(proc.pid, 9)
                proc.join(5)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    errors = [r for r in collected if isinstance(r, str)]
    assert not errors, errors
    return collected


def child(results, work, *args) -> None:
    """Report ``work(*args)``, or the error as text, so the parent sees why."""
    try:
        results.put(work(*args))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(f"{type(exc).__name__}: {exc}")


def schedule_due(kind: str, target: str) -> set[bytes]:
    storage = make(kind, target)
    entries = {b"due-%04d" % i for i in range(DUE_ENTRIES)}
    for i, data in enumerate(sorted(entries)):
        storage.add_to_schedule(data, 1000.0 + i % 7)
    storage.add_to_schedule(b"not-due", 5000.0)
    storage.close()  # nothing inherited across the fork
    return entries


def move_due_at_barrier(kind: str, target: str, barrier) -> int:
    storage = make(kind, target)
    storage.ping()
    barrier.wait(10)
    moved = 0
    for _ in range(20):  # keep racing: later calls must find nothing left
        moved += storage.move_due(2000.0)
    storage.close()
    return moved


def assert_enqueued_once(kind: str, target: str, entries: set[bytes], moved: list[int]) -> None:
    storage = make(kind, target)
    queued = storage.enqueued_items()
    assert sum(moved) == DUE_ENTRIES, moved
    assert len(queued) == DUE_ENTRIES and set(queued) == entries
    assert storage.scheduled_items() == [b"not-due"]
    storage.close()


@pytest.fixture
def small_batches(monkeypatch):
    """Redis moves due entries in batches; small ones make two movers interleave."""
    monkeypatch.setattr(redis_storage, "SCHEDULE_BATCH", 25)


def test_two_scheduler_threads_move_each_entry_once(backend, small_batches):
    kind, target = backend
    entries = schedule_due(kind, target)
    barrier = threading.Barrier(2)
    moved: list[int] = []
    threads = [threading.Thread(target=lambda: moved.append(
        move_due_at_barrier(kind, target, barrier))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(moved) == 2, "a scheduler thread failed"
    assert_enqueued_once(kind, target, entries, moved)


def test_two_scheduler_processes_move_each_entry_once(backend, small_batches):
    kind, target = backend
    entries = schedule_due(kind, target)
    barrier = FORK.Barrier(2)
    moved = run_processes(child, [(move_due_at_barrier, kind, target, barrier)] * 2)
    assert_enqueued_once(kind, target, entries, moved)


def drain_claimed(filename: str, barrier) -> list[bytes]:
    storage = SqliteStorage("conc", filename=filename)
    storage.ping()
    barrier.wait(10)
    taken = []
    while (message := storage.dequeue()) is not None:
        storage.ack(message)
        taken.append(message.data)
    storage.close()
    return taken


def test_four_processes_take_each_sqlite_message_once(tmp_path):
    filename = str(tmp_path / "drain.db")
    storage = SqliteStorage("conc", filename=filename)
    messages = [b"msg-%04d" % i for i in range(2000)]
    for data in messages:
        storage.enqueue(data)
    storage.close()
    barrier = FORK.Barrier(4)
    taken = run_processes(child, [(drain_claimed, filename, barrier)] * 4, timeout=120)
    everything = [data for part in taken for data in part]
    assert len(everything) == len(messages) and set(everything) == set(messages)
    assert sum(1 for part in taken if part) >= 2, "one process took everything: no contention"
    assert SqliteStorage("conc", filename=filename).queue_size() == 0


# -- fork safety -------------------------------------------------------------------------

def use_inherited(storage: Storage) -> dict:
    """In the child: the parent's storage object, never re-created."""
    storage.enqueue(b"from-child")
    seen = [storage.dequeue().data, storage.dequeue().data]
    storage.put_data("child-pid", str(os.getpid()).encode())
    info = {"seen": seen}
    if hasattr(storage, "conn"):
        info["client_id"] = storage.conn.client_id()
    return info


def test_storage_used_before_fork_works_in_the_child(backend):
    kind, target = backend
    storage = make(kind, target)
    storage.ping()
    storage.enqueue(b"from-parent")
    parent_client = storage.conn.client_id() if hasattr(storage, "conn") else None

    [info] = run_processes(child, [(use_inherited, storage)])

    assert info["seen"] == [b"from-parent", b"from-child"]
    if parent_client is not None:  # the child opened its own connection
        assert info["client_id"] != parent_client
        assert storage.conn.client_id() == parent_client
    child_pid = storage.peek_data("child-pid")
    assert child_pid is not None and int(child_pid) != os.getpid()
    storage.enqueue(b"parent-again")
    assert storage.dequeue().data == b"parent-again"
    storage.close()


def open_fresh_and_enqueue(filename: str, barrier, tag: int) -> int:
    barrier.wait(10)
    storage = SqliteStorage("conc", filename=filename)
    for i in range(20):
        storage.enqueue(b"%d-%d" % (tag, i))
    storage.close()
    return tag


def test_processes_creating_one_new_sqlite_file_at_once(tmp_path):
    filename = str(tmp_path / "fresh.db")
    barrier = FORK.Barrier(4)
    run_processes(child, [(open_fresh_and_enqueue, filename, barrier, tag) for tag in range(4)])
    storage = SqliteStorage("conc", filename=filename)
    assert storage.queue_size() == 80
    assert storage._db.get().execute("PRAGMA journal_mode").fetchone() == ("wal",)
