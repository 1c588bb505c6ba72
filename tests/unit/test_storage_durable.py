"""Issue 18, durable enqueue (opt-in): with ``durable=1`` an enqueue, a schedule entry
and an acknowledgement return once a replica has them (WAIT), or after
``durable_timeout`` with one warning line. Real servers: a master and a replica of the
test's own; a replica that cannot answer is a real SIGSTOPped process.
"""
from __future__ import annotations

import logging
import os
import signal
import time

import pytest
import redis

from hueyd.ratelog import RateLimitedLog
from hueyd.storage.redis import PriorityRedisStorage, RedisStorage, durable
from hueyd.storage.redis.durable import split_url
from tests.helpers import RedisServer, wait_for


@pytest.fixture
def pair():
    """(master, replica), the replica in sync."""
    master = RedisServer(extra=("--repl-diskless-sync-delay", "0")).start()
    replica = RedisServer(extra=("--replicaof", "127.0.0.1", str(master.port))).start()
    try:
        with redis.Redis(port=master.port) as client:  # the replica acknowledges writes
            wait_for(lambda: client.set("probe", 1) and client.wait(1, 100) == 1, 10)
            client.delete("probe")
        yield master, replica
    finally:
        replica.cleanup()
        master.cleanup()


def test_the_url_options_are_hueyds_and_leave_the_rest_alone():
    url, durability = split_url("redis://:pw@h:1/0?socket_timeout=2&durable=1", {})
    assert url == "redis://:pw@h:1/0?socket_timeout=2" and durability.replicas == 1
    assert durability.timeout_ms == 1000
    params = {"durable": 2, "durable_timeout": 50, "db": 1}
    url, durability = split_url("redis://h/0?durable_timeout=200", params)
    assert url == "redis://h/0" and (durability.replicas, durability.timeout_ms) == (2, 200)
    assert params == {"db": 1}
    assert split_url(None, {})[1].replicas == 0
    with pytest.raises(ValueError, match="durable must be a whole number"):
        split_url("redis://h/0?durable=yes", {})


@pytest.mark.parametrize("kind", [RedisStorage, PriorityRedisStorage])
def test_durable_writes_wait_for_the_replica(pair, kind, caplog, monkeypatch):
    master, replica = pair
    # a log of its own: the module's says a repeated warning once per 10 s
    monkeypatch.setattr(durable, "UNCONFIRMED", RateLimitedLog(
        logging.getLogger("hueyd.storage"), level=logging.WARNING))
    storage = kind("durable", url=f"{master.url}?durable=1&durable_timeout=5000")
    quick = kind("durable", url=f"{master.url}?durable=1&durable_timeout=300")
    mirror = redis.Redis(port=replica.port)
    size = mirror.zcard if kind is PriorityRedisStorage else mirror.llen
    try:
        for n in range(20):  # each is on the replica when enqueue returns
            storage.enqueue(b"task-%d" % n)
            assert size(storage.keys.queue) == n + 1
        storage.add_to_schedule(b"later", time.time() + 60)
        assert mirror.zcard(storage.keys.schedule) == 1
        storage.start_consuming("c1")
        message = storage.dequeue()
        storage.finish(message)
        held = message.receipt.held_in
        assert mirror.llen(held) == 0  # the acknowledgement is there too
        os.kill(replica.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with caplog.at_level(logging.WARNING, logger="hueyd.storage"):
                quick.enqueue(b"unconfirmed")
            assert time.monotonic() - started >= 0.25
        finally:
            os.kill(replica.proc.pid, signal.SIGCONT)
        assert "durable: an enqueue confirmed by 0 of 1 replica(s) within 300 ms" in caplog.text
    finally:
        storage.close()
        quick.close()
        mirror.close()


def test_without_durable_nothing_waits(pair):
    master, replica = pair
    storage = RedisStorage("fast", url=master.url)
    os.kill(replica.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        storage.enqueue(b"x")
        assert time.monotonic() - started < 0.2
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
        storage.close()


def test_a_master_without_its_replica_is_not_waited_on(own_redis, caplog, monkeypatch):
    """After a failover the new master has no replica: writes go on, unconfirmed, with
    one warning line, rather than taking durable_timeout each."""
    monkeypatch.setattr(durable, "UNCONFIRMED", RateLimitedLog(
        logging.getLogger("hueyd.storage"), level=logging.WARNING))
    storage = RedisStorage("alone", url=f"{own_redis.url}?durable=1&durable_timeout=500")
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="hueyd.storage"):
            for n in range(5):
                storage.enqueue(b"task-%d" % n)
        assert time.monotonic() - started < 0.5
        assert caplog.text.count("durable: the master has 0 of 1 replica(s) connected") == 1
    finally:
        storage.close()
