"""``Storage.count_in_window``, the rate limits' counter, on every backend: one window's
count, a new window from zero, reset by deleting the key, and atomic when several
clients (threads with connections of their own) count at once."""
from __future__ import annotations

import threading

from tests.unit import test_storage_contract as contract

#: the contract's fixtures: every backend, several clients of one store
kind = contract.kind
make_storage = contract.make_storage


def test_counts_within_a_window_and_restarts_in_the_next(make_storage):
    storage = make_storage()
    assert storage.count_in_window("app.rl.x", 10, 0) == 0
    assert [storage.count_in_window("app.rl.x", 10) for _ in range(3)] == [1, 2, 3]
    assert storage.count_in_window("app.rl.x", 10, 0) == 3
    assert storage.count_in_window("app.rl.x", 11, 0) == 0  # a read changes nothing
    assert storage.count_in_window("app.rl.x", 10, 0) == 3
    assert storage.count_in_window("app.rl.x", 11) == 1
    assert storage.count_in_window("app.rl.x", 11, 5) == 6
    assert storage.count_in_window("app.rl.y", 11) == 1  # keys are apart
    assert storage.delete_data("app.rl.x")
    assert storage.count_in_window("app.rl.x", 11, 0) == 0


def test_an_unreadable_value_counts_as_zero(make_storage):
    storage = make_storage()
    storage.put_data("app.rl.z", b"not a count")
    assert storage.count_in_window("app.rl.z", 3) == 1


def test_concurrent_counts_lose_nothing(make_storage, kind):
    threads_n, each = 6, 40
    stores = [make_storage() for _ in range(threads_n)] if kind != "memory" else \
        [make_storage()] * threads_n
    seen: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(threads_n)

    def count(storage) -> None:
        start.wait(timeout=10)
        mine = [storage.count_in_window("app.rl.busy", 7) for _ in range(each)]
        with lock:
            seen.extend(mine)

    workers = [threading.Thread(target=count, args=(s,)) for s in stores]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(w.is_alive() for w in workers)
    total = threads_n * each
    assert stores[0].count_in_window("app.rl.busy", 7, 0) == total
    assert sorted(seen) == list(range(1, total + 1))  # every count handed out once
