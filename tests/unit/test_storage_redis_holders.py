"""Redis in-flight lists, one per thread or process: a take or an ack whose reply was
lost never strands or duplicates a message."""
from __future__ import annotations

import pytest
import redis

from hueyd.storage.base import StorageError
from hueyd.storage.redis import PriorityRedisStorage, RedisStorage
from tests.unit.test_storage_leases import drain, in_flight


@pytest.mark.parametrize("cls", [RedisStorage, PriorityRedisStorage])
def test_a_take_whose_reply_was_lost_is_handed_back(redis_url, cls):
    """The server moved a message into our in-flight list, the connection broke before
    the reply: the next dequeue of that holder hands the stray back first."""
    s = cls("stray", url=redis_url)
    s.start_consuming("c")
    for data in (b"m1", b"m2", b"m3"):
        s.enqueue(data)
    kept = s.dequeue()  # received, still being worked on
    real_taken = s.leases.taken

    def moved_then_lost(held, take):
        def take_then_lose():
            take()
            raise redis.ConnectionError("Connection closed by server.")
        return real_taken(held, take_then_lose)

    s.leases.taken = moved_then_lost
    with pytest.raises(StorageError):
        s.dequeue()
    s.leases.taken = real_taken
    assert in_flight(s) == {"c": 2} and s.enqueued_items() == [b"m3"]
    again = s.dequeue()
    assert again.data == b"m2"  # handed back to the head, then taken for real
    assert in_flight(s) == {"c": 2}  # m1 (received) was left alone
    s.ack(kept)
    s.ack(again)
    assert drain(s) == [b"m3"] and in_flight(s) == {"c": 0}
    s.close()


def test_each_thread_holds_its_own_list_and_release_empties_them_all(redis_url):
    import threading
    s = RedisStorage("threads", url=redis_url)
    s.start_consuming("c")
    for n in range(4):
        s.enqueue(b"m%d" % n)
    got = []
    # all three alive at once: a thread that ended may pass its ident on to the next one
    together = threading.Barrier(3, timeout=5)

    def take() -> None:
        got.append(s.dequeue())
        together.wait()

    threads = [threading.Thread(target=take) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len({m.receipt.held_in for m in got}) == 3 and in_flight(s) == {"c": 3}
    assert s.stop_consuming() == 3 and s.consumers() == []
    assert sorted(drain(s)) == [b"m0", b"m1", b"m2", b"m3"]
    s.close()


def test_a_failed_ack_does_not_make_its_message_a_stray(redis_url):
    """The ack's connection broke: the entry may still be in flight, and it is the
    holder's own. It is acknowledged again later, never handed back as a stray."""
    s = RedisStorage("unacked", url=redis_url)
    s.start_consuming("c")
    for data in (b"m1", b"m2"):
        s.enqueue(data)
    done = s.dequeue()
    real_taken = s.leases.taken

    def lost(held, take):
        def take_nothing():
            raise redis.ConnectionError("Connection closed by server.")
        return real_taken(held, take_nothing)

    s.leases.taken = lost
    with pytest.raises(StorageError):
        s.dequeue()  # the holder's list is suspect from now on
    s.leases.taken = real_taken
    assert s.dequeue().data == b"m2"  # m1, received, was not handed back
    s.ack(done)
    assert s.queue_size() == 0 and in_flight(s) == {"c": 1}
    s.close()
