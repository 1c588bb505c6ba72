"""A storage that answers no, and entries that are not ours, on a real redis-server.

- At ``maxmemory`` Redis refuses writes, takes included (``OOM command not
  allowed``): that is a StorageRefused (it escaped the dead-letter path as a bare
  ResponseError), and ``set_aside`` still moves a held message from its in-flight
  list to the dead letters (a script that writes first may finish at maxmemory).
- A key of the wrong type planted by someone with access is refused the same way.
- Schedule members that are not ours move whole, without losing the others due
  with them (the move script used to fail halfway, after removing the batch).
"""
from __future__ import annotations

import time

import pytest

from hueyd.storage.base import Message, StorageRefused
from hueyd.storage.redis import RedisStorage
from hueyd.storage.sqlite import SqliteStorage
from tests.hostile import fill


def test_at_maxmemory_writes_are_refused_and_a_held_message_is_set_aside(own_redis):
    storage = RedisStorage("full", url=own_redis.url)
    storage.start_consuming()
    storage.enqueue(b"message")
    storage.enqueue(b"next")
    message = storage.dequeue(0)
    client = fill(own_redis.port)
    try:
        with pytest.raises(StorageRefused, match="maxmemory"):
            storage.dequeue(0)  # taking moves the message into an in-flight list: refused
        with pytest.raises(StorageRefused, match="maxmemory"):
            storage.put_data("result", b"value", is_result=True)
        with pytest.raises(StorageRefused, match="maxmemory"):
            storage.add_dead_letter(b"other", "why", time.time())
        storage.set_aside(message, "its outcome could not be stored: OOM", time.time())
        (letter,) = storage.dead_letters()
        assert (letter.data, letter.reason) == (b"message", "its outcome could not be stored: OOM")
        assert storage.consumers()[0].in_flight == 0
        storage.set_aside(message, "again", time.time())  # no longer held: nothing added
        assert storage.dead_letter_count() == 1
    finally:
        client.close()
        storage.stop_consuming()
        storage.close()


def test_a_key_of_the_wrong_type_is_a_refusal(redis_url):
    storage = RedisStorage("wrongtype", url=redis_url)
    storage.conn.set(storage.keys.values, b"planted")
    with pytest.raises(StorageRefused, match="WRONGTYPE"):
        storage.put_data("result", b"value")
    storage.close()


def test_schedule_members_that_are_not_ours_move_whole_and_lose_nothing(redis_url):
    storage = RedisStorage("schedule", url=redis_url)
    storage.add_to_schedule(b"first", 10.0)
    storage.conn.zadd(storage.keys.schedule, {b"no-colon-here": 11.0, b"nan:data": 12.0})
    storage.add_to_schedule(b"last", 13.0)
    assert storage.move_due(20.0) == 4
    assert storage.enqueued_items() == [b"first", b"no-colon-here", b"data", b"last"]
    assert storage.schedule_size() == 0
    storage.close()


def test_dead_letters_that_are_not_ours_are_listed_and_requeued(redis_url):
    storage = RedisStorage("letters", url=redis_url)
    storage.conn.rpush(storage.keys.dead, b"no header at all", b"{not json\nbody")
    storage.add_dead_letter(b"ours", "reason", 5.0)
    letters = storage.dead_letters()
    assert [d.reason for d in letters] == ["unreadable dead-letter entry"] * 2 + ["reason"]
    assert storage.requeue_dead_letters() == 3
    assert sorted(storage.enqueued_items()) == [b"body", b"no header at all", b"ours"]
    storage.close()


def test_sqlite_set_aside_is_one_transaction(tmp_path):
    storage = SqliteStorage("aside", filename=str(tmp_path / "q.db"))
    storage.start_consuming()
    storage.enqueue(b"bad")
    message = storage.dequeue()
    storage.set_aside(message, "reason", 1.0)
    storage.set_aside(message, "twice", 2.0)  # its claim is gone: nothing added
    assert [(d.data, d.reason) for d in storage.dead_letters()] == [(b"bad", "reason")]
    assert storage.consumers()[0].in_flight == 0 and storage.queue_size() == 0
    storage.set_aside(Message(b"unheld"), "from the schedule", 3.0)
    assert storage.dead_letter_count() == 2
    storage.stop_consuming()
    storage.close()


def test_sqlite_refusing_writes_is_a_refusal(tmp_path):
    """A database that refuses writes (here: query_only, the error a read-only file
    gives) is StorageRefused; a worker then sets an outcome aside instead of waiting."""
    storage = SqliteStorage("readonly", filename=str(tmp_path / "q.db"))
    storage.ping()
    storage._db.get().execute("PRAGMA query_only = ON")
    with pytest.raises(StorageRefused, match="readonly"):
        storage.put_data("result", b"value")
    storage.close()
