"""FileHuey (huey's FileStorage) and BlackHoleHuey: huey's storage interface on a folder
and on nothing; tasks through hueyd's contract (the adapter) on both; the folder's lock
shared by processes."""
from __future__ import annotations

import functools
import os
from collections.abc import Callable

import pytest

import hueyd
from hueyd.storage import BaseStorage, BlackHoleStorage, EmptyData, FileStorage
from tests.unit.test_storage_concurrency import child, run_processes
from tests.unit.test_storage_huey_interface import (  # noqa: F401 (collected here too)
    test_counters_are_atomic_across_threads,
    test_key_value_returns_emptydata_and_dicts,
    test_put_if_empty_with_a_ttl,
    test_queue_speaks_bytes_and_takes_without_a_lease,
    test_schedule_takes_datetimes_in_the_hueys_clock,
    test_wait_result_sees_a_value_written_later,
)


@pytest.fixture
def make_huey(tmp_path):
    """The interface tests above, on a FileHuey."""
    return lambda name="test", **kw: hueyd.FileHuey(name, path=str(tmp_path / name), **kw)


def test_file_huey_runs_tasks_with_huey_semantics(tmp_path):
    huey = hueyd.FileHuey("files", path=str(tmp_path / "q"), levels=3)
    assert isinstance(huey.storage, FileStorage) and huey.storage.levels == 3

    @huey.task()
    def add(a, b):
        return a + b

    results = [add(n, 1) for n in range(5)]
    assert huey.pending_count() == 5
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
    assert [r.get() for r in results] == [1, 2, 3, 4, 5]
    assert huey.storage.result_store_size() == 0  # get() popped them
    # a value file lives at levels deep, named by the key's digest
    huey.storage.put_data("k", b"v")
    path = huey.storage.path_for_key("k")
    assert os.path.exists(path) and len(os.path.relpath(path, tmp_path / "q" / "results")
                                         .split(os.sep)) == 4


def test_file_priorities_and_errors(tmp_path):
    storage = FileStorage("p", path=str(tmp_path / "q"), use_thread_lock=True)
    for data, priority in ((b"low", None), (b"high", 9), (b"mid", 5), (b"low2", 0)):
        storage.enqueue(data, priority)
    assert [storage.dequeue() for _ in range(4)] == [b"high", b"mid", b"low", b"low2"]
    with pytest.raises(ValueError, match="priority"):
        storage.enqueue(b"x", -1)
    with pytest.raises(ValueError, match="levels"):
        FileStorage("p", path=str(tmp_path / "other"), levels=5)
    (tmp_path / "plain").write_text("")
    with pytest.raises(ValueError, match="not a folder"):
        FileStorage("p", path=str(tmp_path / "plain"))


def _drain(make: Callable[[], BaseStorage]) -> list[bytes]:
    storage, taken = make(), []
    while (data := storage.dequeue()) is not None:
        taken.append(data)
        storage.incr("taken")
    return taken


def assert_taken_once_by_processes(make: Callable[[], BaseStorage], count: int = 300) -> None:
    """Four forked processes drain ``count`` messages: each is taken exactly once."""
    storage = make()
    sent = [b"m%d" % n for n in range(count)]
    for data in sent:
        storage.enqueue(data)
    taken = [data for part in run_processes(child, [(_drain, make)] * 4) for data in part]
    assert sorted(taken) == sorted(sent) and len(set(taken)) == len(sent)
    assert storage.incr("taken", 0) == count


def test_several_processes_take_each_message_once(tmp_path):
    assert_taken_once_by_processes(functools.partial(FileStorage, "mp", path=str(tmp_path)))


def test_black_hole_keeps_nothing():
    huey = hueyd.BlackHoleHuey("void")
    assert isinstance(huey.storage, BlackHoleStorage)

    @huey.task()
    def add(a, b):
        return a + b

    result = add(1, 2)
    assert huey.pending_count() == 0 and huey.dequeue() is None
    assert result.get() is None
    storage = huey.storage
    storage.put_data("k", b"v")
    assert storage.peek_data("k") is EmptyData and storage.pop_data("k") is EmptyData
    assert storage.put_if_empty("k", b"v") is True and storage.incr("n", 3) == 3
    assert huey.backend.dead_letter_count() == 0
    huey.backend.start_consuming()
    storage.flush_all()


def test_locks_and_rate_limits_on_a_file_huey(tmp_path):
    from hueyd import RateLimitExceeded, TaskLockedException
    huey = hueyd.FileHuey("guards", path=str(tmp_path / "q"))
    with huey.lock_task("nightly", ttl=30):
        with pytest.raises(TaskLockedException), huey.lock_task("nightly"):
            pass
    limit = huey.rate_limit("api", limit=2, per=10**9)  # one window until 2033
    for _ in range(2):
        with limit:
            pass
    with pytest.raises(RateLimitExceeded), limit:
        pass


def test_hueyd_status_names_the_apps_storage_class(tmp_path):
    from hueyd.daemon.admin import read_status
    huey = hueyd.FileHuey("named", path=str(tmp_path / "q"))
    huey.storage.enqueue(b"x")
    status = read_status(huey)
    assert (status.storage, status.queued) == (f"FileStorage {tmp_path / 'q'}", 1)
    assert read_status(hueyd.MemoryHuey("m")).storage == "MemoryStorage"
