"""MemoryStorage: the storage contract in-process, thread-safe, with priorities and TTLs."""
from __future__ import annotations

import threading
import time

from hueyd.storage.base import Storage
from hueyd.storage.memory import MemoryStorage
from tests.helpers import wait_for


def test_implements_the_whole_contract():
    assert issubclass(MemoryStorage, Storage)
    MemoryStorage("x").ping()  # abstract methods all provided, or this would not build


def test_priority_then_fifo_and_requeue_to_head():
    s = MemoryStorage()
    for data, priority in ((b"a", None), (b"b", 5), (b"c", None), (b"d", 5), (b"e", 1)):
        s.enqueue(data, priority)
    assert s.enqueued_items() == [b"b", b"d", b"e", b"a", b"c"]
    assert s.enqueued_items(limit=2) == [b"b", b"d"]
    first = s.dequeue()
    assert first.data == b"b"
    s.hand_back(first)
    assert s.queue_size() == 5 and s.dequeue().data == b"b"


def test_ack_forgets_and_flush_drops_in_flight():
    s = MemoryStorage()
    s.enqueue(b"x")
    message = s.dequeue()
    s.ack(message)
    s.hand_back(message)  # requeue after ack still hands the data back (no receipt left)
    assert s.queue_size() == 1
    s.flush_queue()
    assert s.queue_size() == 0 and s.dequeue() is None


def test_blocking_dequeue_wakes_on_enqueue():
    s = MemoryStorage()
    got = []
    waiting = threading.Event()

    def read() -> None:
        waiting.set()
        got.append(s.dequeue(timeout=10))

    reader = threading.Thread(target=read)
    started = time.monotonic()
    reader.start()
    assert waiting.wait(5)
    s.enqueue(b"wake")
    reader.join(5)
    assert not reader.is_alive() and got[0].data == b"wake"
    assert time.monotonic() - started < 5  # woken, not timed out


def test_concurrent_producers_and_consumers_lose_nothing():
    s = MemoryStorage()
    seen: list[bytes] = []
    lock = threading.Lock()

    def produce(base: int) -> None:
        for i in range(500):
            s.enqueue(b"%d" % (base + i), i % 3)

    def consume() -> None:
        while True:
            message = s.dequeue(timeout=0.2)
            if message is None:
                return
            s.ack(message)
            with lock:
                seen.append(message.data)

    threads = [threading.Thread(target=produce, args=(n * 1000,)) for n in range(4)]
    threads += [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(seen) == 2000 and len(set(seen)) == 2000


def test_schedule_move_due_keeps_priority():
    s = MemoryStorage()
    s.add_to_schedule(b"late", 200.0)
    s.add_to_schedule(b"low", 100.0, 1)
    s.add_to_schedule(b"high", 100.0, 9)
    assert s.next_scheduled_time() == 100.0 and s.schedule_size() == 3
    assert s.scheduled_items() == [b"low", b"high", b"late"]
    s.enqueue(b"plain")
    assert s.move_due(150.0) == 2
    assert s.enqueued_items() == [b"high", b"low", b"plain"]
    assert s.read_schedule(199.0) == [] and s.read_schedule(200.0) == [b"late"]
    assert s.next_scheduled_time() is None


def test_key_value_ttl_and_peek_many():
    s = MemoryStorage()
    s.put_data("a", b"1")
    assert s.peek_many(["a", "missing"]) == [b"1", None]
    assert s.put_if_empty("lock", b"x", ttl=0.2) is True
    assert s.put_if_empty("lock", b"y") is False
    wait_for(lambda: not s.has_data_for_key("lock"), timeout=3, message="ttl expiry")
    assert s.put_if_empty("lock", b"z") is True
    assert s.pop_data("a") == b"1" and s.pop_data("a") is None
    assert s.delete_data("lock") is True and s.delete_data("lock") is False
    s.put_data("r", b"v", is_result=True)
    assert s.result_items() == {"r": b"v"} and s.result_store_size() == 1
    s.flush_results()
    assert s.result_store_size() == 0


def test_dead_letters_requeue_and_purge():
    s = MemoryStorage()
    s.add_dead_letter(b"bad1", "bad signature", 1.0)
    s.add_dead_letter(b"bad2", "garbage", 2.0)
    letters = s.dead_letters()
    assert [(d.data, d.reason, d.timestamp) for d in letters] == [
        (b"bad1", "bad signature", 1.0), (b"bad2", "garbage", 2.0)]
    assert len({d.id for d in letters}) == 2 and all(d.id for d in letters)
    assert s.dead_letters(limit=1)[0].data == b"bad1"
    assert s.requeue_dead_letters() == 2 and s.dead_letter_count() == 0
    assert s.enqueued_items() == [b"bad1", b"bad2"]
    s.add_dead_letter(b"bad3", "x", 3.0)
    assert s.purge_dead_letters() == 1 and s.dead_letter_count() == 0


def test_flush_all():
    s = MemoryStorage()
    s.enqueue(b"q")
    s.add_to_schedule(b"s", 1.0)
    s.put_data("k", b"v")
    s.add_dead_letter(b"d", "r", 1.0)
    s.flush_all()
    assert (s.queue_size(), s.schedule_size(), s.result_store_size(),
            s.dead_letter_count()) == (0, 0, 0, 0)
